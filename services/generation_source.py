"""Strategies with a source image (issue 15): EDITING, REFINE, BACKGROUND_FIXING,
FACE_FIXING and IMAGE_ADJUSTING work on an image the organization already has, named by
`source_prediction_id` (a prediction of one of its generations) or `source_media_id` (one
of its media). GENERATE makes a new image and takes neither; VIDEO is not supported yet.

The checks, in the order a client meets them:

- VIDEO: 409 "not supported yet" (single generate and batch), until its own issue;
- the payload (422 naming the field): exactly one source for a strategy with a source,
  none for GENERATE, `config.upscale` only with REFINE; a batch takes no source strategy
  (a source image belongs to one shot);
- the source (404 when it is not the organization's, like any id of another tenant; 409
  when the prediction has no image yet, or the media is not an image).

The output keeps the source's size (an edit does not resize), times `config.upscale` for
REFINE (2 by default): the size the model's max-output rule (services/generation_checks.py)
then checks, and what Compute is asked to render.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from models.generation import Generation, GenerationStrategy, Prediction, ShotGenerateRequest
from models.media import MediaResource
from services.errors import Conflict, NotFound, Unprocessable
from services.generation_checks import RuleBroken
from services.generation_config import ConfigRefused
from services.tenancy import Scope

SOURCE_STRATEGIES = frozenset(
    {
        GenerationStrategy.EDITING,
        GenerationStrategy.REFINE,
        GenerationStrategy.BACKGROUND_FIXING,
        GenerationStrategy.FACE_FIXING,
        GenerationStrategy.IMAGE_ADJUSTING,
    }
)
DEFAULT_UPSCALE = 2
# The sides a generation's config.output accepts (models/generation.py OutputConfig).
MIN_SIDE, MAX_SIDE = 64, 8192


class NotSupportedYet(Conflict):
    """A strategy the platform accepts in its vocabulary but cannot run yet (VIDEO)."""


@dataclass(frozen=True, slots=True)
class Source:
    """The image a generation works on, as the generation row and the compute request
    need it."""

    prediction_id: uuid.UUID | None
    media_id: uuid.UUID
    width: int | None
    height: int | None


def _refuse_video(strategy: GenerationStrategy) -> None:
    if strategy == GenerationStrategy.VIDEO:
        raise NotSupportedYet("VIDEO generations are not supported yet")


def check_request(request: ShotGenerateRequest) -> None:
    """The payload rules of a single generate request (no I/O)."""
    _refuse_video(request.strategy)
    given = [
        name
        for name in ("source_prediction_id", "source_media_id")
        if getattr(request, name) is not None
    ]
    strategy = request.strategy.value
    if request.strategy in SOURCE_STRATEGIES:
        if not given:
            raise Unprocessable(
                "source_prediction_id",
                f"{strategy} needs a source image: source_prediction_id or source_media_id",
            )
        if len(given) > 1:
            raise Unprocessable(
                "source_media_id", "Give source_prediction_id or source_media_id, not both"
            )
    elif given:
        raise Unprocessable(given[0], f"{strategy} takes no source image")
    if request.config.upscale is not None and request.strategy != GenerationStrategy.REFINE:
        raise ConfigRefused("upscale", "config.upscale is only for the REFINE strategy")


def check_batch(request: ShotGenerateRequest) -> None:
    """A batch runs one request over many shots; a source image is one shot's."""
    _refuse_video(request.strategy)
    if request.strategy in SOURCE_STRATEGIES:
        raise Unprocessable(
            "strategy",
            f"{request.strategy.value} works on one source image: use "
            "POST /shots/{id}/generate with source_prediction_id or source_media_id",
        )
    check_request(request)


async def _media(session: AsyncSession, media_id: uuid.UUID | None, what: str) -> MediaResource:
    media = await session.get(MediaResource, media_id) if media_id else None
    if media is None:
        raise Conflict(f"{what} has no image")
    if not (media.content_type or "image/").startswith("image/"):
        raise Conflict(f"{what} is not an image ({media.content_type})")
    return media


async def resolve(
    session: AsyncSession, scope: Scope, request: ShotGenerateRequest
) -> Source | None:
    """The request's source image, checked against the caller's organization (call after
    check_request); None for a strategy without one."""
    if request.source_prediction_id is not None:
        # Predictions carry no owner: their generation says whose they are.
        prediction = await session.scalar(
            select(Prediction)
            .join(Generation, Generation.id == Prediction.generation_id)
            .where(Prediction.id == request.source_prediction_id, scope.filter(Generation))
        )
        if prediction is None:
            raise NotFound("Source prediction not found")
        what = f"Source prediction {prediction.id} ({prediction.status.value})"
        media = await _media(session, prediction.media_resource_id, what)
        return Source(prediction.id, media.id, media.width, media.height)
    if request.source_media_id is not None:
        media = await session.scalar(
            select(MediaResource).where(
                MediaResource.id == request.source_media_id, scope.filter(MediaResource)
            )
        )
        if media is None:
            raise NotFound("Source media not found")
        media = await _media(session, media.id, f"Source media {media.id}")
        return Source(None, media.id, media.width, media.height)
    return None


def output_for(
    source: Source | None, request: ShotGenerateRequest, look_output: dict[str, Any]
) -> tuple[dict[str, Any], int | None]:
    """(config.output, upscale factor): the source's size (the look's when the media row
    has none), times the factor for REFINE; the look's format."""
    if source is None:
        return look_output, None
    factor = None
    if request.strategy == GenerationStrategy.REFINE:
        factor = request.config.upscale or DEFAULT_UPSCALE
    known = source.width and source.height
    base_width = source.width if known else look_output["width"]
    base_height = source.height if known else look_output["height"]
    width, height = base_width * (factor or 1), base_height * (factor or 1)
    if min(width, height) < MIN_SIDE or max(width, height) > MAX_SIDE:
        upscaled = f", upscaled {factor}x" if factor else ""
        raise RuleBroken(
            f"Output {width}x{height} (source {base_width}x{base_height}{upscaled}) is outside "
            f"the sides an output may have ({MIN_SIDE} to {MAX_SIDE} pixels)"
        )
    return {**look_output, "width": width, "height": height}, factor
