"""The review gallery of a shooting: every image its completed generations produced, with
what a reviewer needs beside it (shot, look, status, whether it is the shot's current image)."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from pydantic import BaseModel
from sqlalchemy import ColumnElement, Select, and_, exists, func, select
from sqlalchemy.ext.asyncio import AsyncSession

from core.file_urls import signed_url
from models.generation import Generation, GenerationStatus, Prediction, PredictionStatus
from models.media import EntityType, MediaResource, MediaResourceAttachment
from models.shooting import ShootingLook
from models.shot import RevisionStatus, Shot, ShotRevision
from services import shootings
from services import shots as shot_service
from services.tenancy import Scope


class GalleryItem(BaseModel):
    """One generated image (a prediction's output)."""

    prediction_id: uuid.UUID
    media_resource_id: uuid.UUID
    file_url: str
    width: int | None
    height: int | None
    dominant_color: str | None
    seed: int | None
    score: float | None
    attempt: int
    generation_id: uuid.UUID
    shot_id: uuid.UUID
    look_id: uuid.UUID
    shot_type_id: uuid.UUID
    shot_status: RevisionStatus
    in_current_revision: bool
    created_at: datetime


def _in_current_revision() -> ColumnElement[bool]:
    """The image is one of the shot's current revision, made by this very generation (the
    same bytes from another generation share the media id but are not its revision)."""
    return and_(
        ShotRevision.generation_id == Prediction.generation_id,
        exists().where(
            MediaResourceAttachment.entity_type == EntityType.SHOT_REVISION,
            MediaResourceAttachment.entity_id == Shot.current_revision_id,
            MediaResourceAttachment.media_resource_id == Prediction.media_resource_id,
        ),
    )


def _joined(query: Select[Any]) -> Select[Any]:
    return shot_service.with_current_revision(
        query.select_from(Prediction)
        .join(Generation, Generation.id == Prediction.generation_id)
        .join(MediaResource, MediaResource.id == Prediction.media_resource_id)
        .join(Shot, Shot.id == Generation.shot_id)
        .join(ShootingLook, ShootingLook.id == Shot.look_id)
    )


async def list_(
    session: AsyncSession,
    scope: Scope,
    *,
    shooting_id: uuid.UUID,
    skip: int,
    limit: int,
    look_id: uuid.UUID | None = None,
    shot_id: uuid.UUID | None = None,
    current_only: bool = False,
) -> tuple[list[GalleryItem], int]:
    """A page of the shooting's images, by look and shot, newest generation first."""
    await shootings.get(session, scope, shooting_id)  # 404 outside the caller's scope
    where: list[ColumnElement[bool]] = [
        scope.filter(Generation),
        Generation.shooting_id == shooting_id,
        Generation.status == GenerationStatus.COMPLETED,
        Prediction.status == PredictionStatus.COMPLETED,
    ]
    if look_id is not None:
        where.append(Shot.look_id == look_id)
    if shot_id is not None:
        where.append(Shot.id == shot_id)
    current = _in_current_revision()
    if current_only:
        where.append(current)
    count = await session.scalar(_joined(select(func.count())).where(*where))
    rows = await session.execute(
        _joined(
            select(
                Prediction,
                MediaResource.width,
                MediaResource.height,
                MediaResource.dominant_color,
                Shot.id,
                Shot.look_id,
                Shot.shot_type_id,
                shot_service.status_column(),
                current.label("in_current_revision"),
            )
        )
        .where(*where)
        .order_by(
            ShootingLook.position,
            ShootingLook.id,
            Shot.position,
            Shot.id,
            Generation.created_at.desc(),
            Prediction.attempt,
            Prediction.output_index,
        )
        .offset(skip)
        .limit(limit)
    )
    items = []
    for prediction, width, height, color, shot, look, shot_type, status, in_current in rows:
        assert prediction.media_resource_id is not None  # joined to its media row
        items.append(
            GalleryItem(
                prediction_id=prediction.id,
                media_resource_id=prediction.media_resource_id,
                file_url=signed_url(prediction.media_resource_id),
                width=width,
                height=height,
                dominant_color=color,
                seed=prediction.seed,
                score=prediction.score,
                attempt=prediction.attempt,
                generation_id=prediction.generation_id,
                shot_id=shot,
                look_id=look,
                shot_type_id=shot_type,
                shot_status=RevisionStatus(status),
                in_current_revision=bool(in_current),
                created_at=prediction.created_at,
            )
        )
    return items, int(count or 0)
