"""Reads the parts of a compute request (services/compute_request_parts.py) through the
session: the generation's components, its look's outfit and guidelines, the shooting's
default guidelines and the model. Only reads; the builder (services/compute_request.py)
decides what goes where.

The outfit and the model each come from one small function (`_outfit`, `_model`) over
their own services (services/outfits.py, services/generation_models.py).
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import replace
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from models.generation import Generation, Prediction
from models.generation_model import GenerationModel
from models.guideline import Guideline, GuidelineShotTypeRule, PosePreset
from models.media import EntityType, MediaResource, MediaResourceAttachment
from models.preset import BackgroundPreset, ResolutionPreset
from models.product import Product
from models.shooting import Shooting, ShootingLook, ShootingLookGuideline
from models.shot_type import ShotType
from models.style import Style
from models.subject import Subject
from services import compute_request, generation_models, outfits
from services.compute_request_parts import (
    BackgroundPart,
    GuidelinePart,
    ImageRef,
    LookOutput,
    ModelPart,
    OutfitPart,
    OutputPart,
    PosePart,
    ProductPart,
    RequestParts,
    RulePart,
    ShotTypePart,
    SourcePart,
    StylePart,
    SubjectPart,
)
from services.generation_config import WorkerConfig

# The subject's descriptive fields passed to Compute (besides id and name).
SUBJECT_FIELDS = (
    "surname",
    "description",
    "subject_type",
    "gender",
    "age_class",
    "body_type",
    "eye_color",
    "hair_color",
)
COVER_SLOT = "cover_image"
# The model's defaults passed to Compute as they are (the others feed the precedence).
MODEL_PARAMETERS = ("num_inference_steps", "guidance_scale")


def _id(value: uuid.UUID | None) -> str | None:
    return str(value) if value is not None else None


def _text(value: Any) -> str | None:
    """Enum members as their value, so the parts hold plain JSON strings."""
    return None if value is None else str(getattr(value, "value", value))


async def _images(
    session: AsyncSession, entity_type: EntityType, entity_ids: Sequence[uuid.UUID]
) -> dict[uuid.UUID, tuple[ImageRef, ...]]:
    """Every attached image of the entities, as storage keys: the cover image, then the
    other slots by name and position."""
    if not entity_ids:
        return {}
    a = MediaResourceAttachment
    rows = await session.execute(
        select(a.entity_id, a.slot, MediaResource.storage_key)
        .join(MediaResource, MediaResource.id == a.media_resource_id)
        .where(a.entity_type == entity_type, a.entity_id.in_(list(entity_ids)))
        .order_by(a.entity_id, a.slot, a.position, a.created_at)
    )
    found: dict[uuid.UUID, list[ImageRef]] = {}
    for entity_id, slot, key in rows.all():
        found.setdefault(entity_id, []).append(ImageRef(key=key, slot=slot))
    # The cover image first: DOMAIN §1.3's primary reference for generation.
    return {
        entity_id: tuple(sorted(images, key=lambda i: i.slot != COVER_SLOT))
        for entity_id, images in found.items()
    }


async def _products(
    session: AsyncSession, product_ids: Sequence[uuid.UUID]
) -> dict[uuid.UUID, ProductPart]:
    ids = list(dict.fromkeys(product_ids))
    if not ids:
        return {}
    rows = (await session.scalars(select(Product).where(Product.id.in_(ids)))).all()
    images = await _images(session, EntityType.PRODUCT, ids)
    return {
        row.id: ProductPart(
            id=str(row.id),
            name=row.name,
            description=row.description,
            sku=row.sku,
            product_family=row.product_family,
            product_type=row.product_type,
            images=images.get(row.id, ()),
        )
        for row in rows
    }


async def _outfit(session: AsyncSession, look: ShootingLook | None) -> OutfitPart | None:
    """The look's outfit: its products (in order), reference URLs and styling instruction."""
    outfit = await outfits.for_look(session, look) if look is not None else None
    if outfit is None:
        return None
    product_ids = (await outfits.product_ids_of(session, [outfit.id])).get(outfit.id, [])
    products = await _products(session, product_ids)
    return OutfitPart(
        id=str(outfit.id),
        name=outfit.name,
        products=tuple(products[i] for i in product_ids if i in products),
        reference_urls=tuple(outfit.reference_urls or ()),
        instruction=outfit.styling_instruction,
    )


async def _model(session: AsyncSession, generation: Generation) -> ModelPart | None:
    """The generation's model with its provider; only its name when the model is gone (the
    generation keeps the name it was created with)."""
    row = await generation_models.for_generation(session, generation)
    if row is None:
        return ModelPart(id=None, name=generation.model) if generation.model else None
    return model_part(row)


def model_part(row: GenerationModel) -> ModelPart:
    defaults = row.defaults or {}
    return ModelPart(
        id=str(row.id),
        name=row.name,
        provider=row.provider,
        fallback_provider=row.fallback_provider,
        default_width=defaults.get("width"),
        default_height=defaults.get("height"),
        default_format=defaults.get("format"),
        default_negative_prompt=defaults.get("negative_prompt"),
        parameters={k: defaults[k] for k in MODEL_PARAMETERS if defaults.get(k) is not None},
    )


def _base_image(item: dict[str, Any]) -> ImageRef | None:
    url = item.get("image_url")
    if not isinstance(url, str) or not url:
        return None
    shot_type = item.get("shot_type_id")
    # The JSON column holds URLs as given; a value without a scheme is a key of our bucket.
    return ImageRef(
        url=url if "://" in url else None,
        key=None if "://" in url else url,
        shot_type_id=str(shot_type) if shot_type else None,
    )


async def _subject(session: AsyncSession, subject_id: uuid.UUID | None) -> SubjectPart | None:
    row = await session.get(Subject, subject_id) if subject_id else None
    if row is None:
        return None
    images = (_base_image(i) for i in row.base_images or [] if isinstance(i, dict))
    return SubjectPart(
        id=str(row.id),
        name=row.name,
        fields={name: _text(getattr(row, name)) for name in SUBJECT_FIELDS},
        base_images=tuple(i for i in images if i is not None),
    )


async def _style(session: AsyncSession, style_id: uuid.UUID | None) -> StylePart | None:
    row = await session.get(Style, style_id) if style_id else None
    if row is None:
        return None
    images = await _images(session, EntityType.STYLE, [row.id])
    return StylePart(
        id=str(row.id),
        name=row.name,
        description=row.description,
        prompt=row.prompt,
        images=images.get(row.id, ()),
    )


async def _shot_type(session: AsyncSession, shot_type_id: uuid.UUID | None) -> ShotTypePart | None:
    row = await session.get(ShotType, shot_type_id) if shot_type_id else None
    if row is None:
        return None
    return ShotTypePart(
        id=str(row.id),
        name=row.name,
        description=row.description,
        prompt=row.prompt,
        framing=_text(row.framing),
        view_angle=_text(row.view_angle),
    )


async def _background(session: AsyncSession, preset_id: uuid.UUID | None) -> BackgroundPart | None:
    row = await session.get(BackgroundPreset, preset_id) if preset_id else None
    if row is None:
        return None
    return BackgroundPart(
        id=str(row.id),
        name=row.name,
        description=row.description,
        prompt=row.prompt,
        color=row.color,
    )


async def _size(session: AsyncSession, preset_id: uuid.UUID | None) -> tuple[int, int] | None:
    row = await session.get(ResolutionPreset, preset_id) if preset_id else None
    return (row.width, row.height) if row is not None else None


async def _guideline(
    session: AsyncSession, guideline_id: uuid.UUID, *, full: bool = True
) -> GuidelinePart | None:
    """A guideline's part; without `full` only what the output needs (size and format), so
    planning a batch page reads no poses or rules it would not use."""
    row = await session.get(Guideline, guideline_id)
    if row is None:
        return None
    part = GuidelinePart(
        id=str(row.id),
        name=row.name,
        file_format=_text(row.file_format),
        size=await _size(session, row.resolution_preset_id),
    )
    if not full:
        return part
    poses = await session.scalars(
        select(PosePreset)
        .where(PosePreset.guideline_id == row.id)
        .order_by(PosePreset.position, PosePreset.id)
    )
    rule = GuidelineShotTypeRule
    rules = await session.scalars(
        select(rule).where(rule.guideline_id == row.id).order_by(rule.created_at, rule.id)
    )
    return replace(
        part,
        background=await _background(session, row.background_preset_id),
        set_design=row.set_design,
        poses=tuple(PosePart(id=str(p.id), name=p.name, prompt=p.prompt) for p in poses),
        rules=tuple(
            RulePart(
                id=str(r.id), kind=r.rule_kind, value=r.rule_value, shot_type_id=_id(r.shot_type_id)
            )
            for r in rules
        ),
    )


async def _guidelines(
    session: AsyncSession,
    look: ShootingLook | None,
    shooting: Shooting | None,
    *,
    full: bool = True,
) -> tuple[tuple[GuidelinePart, ...], GuidelinePart | None]:
    """The look's guidelines by position (the order the look lists them), and the
    shooting's default guidelines."""
    look_parts: list[GuidelinePart] = []
    if look is not None:
        link = ShootingLookGuideline
        ids = await session.scalars(
            select(link.guideline_id)
            .where(link.look_id == look.id)
            .order_by(link.position, link.guideline_id)
        )
        for guideline_id in list(ids):
            if (part := await _guideline(session, guideline_id, full=full)) is not None:
                look_parts.append(part)
    default_id = shooting.default_guidelines_id if shooting is not None else None
    default = await _guideline(session, default_id, full=full) if default_id else None
    return tuple(look_parts), default


async def output_for_look(
    session: AsyncSession, look: ShootingLook, shooting: Shooting, model: ModelPart | None = None
) -> OutputPart:
    """`config.output` of a new generation: the output size and format of a look's images
    by the builder's precedence (`compute_request.resolve_output`)."""
    guidelines, default = await _guidelines(session, look, shooting, full=False)
    setting = LookOutput(
        width=look.width,
        height=look.height,
        preset_size=await _size(session, look.resolution_preset_id),
        file_format=_text(look.file_format),
    )
    return compute_request.resolve_output(
        setting, compute_request.sources(guidelines, default), model
    )


async def _source(session: AsyncSession, generation: Generation) -> SourcePart | None:
    """The image the generation works on: its source media (kept for a prediction source
    too, so a deleted prediction still leaves the image), else the prediction's media."""
    media_id = generation.source_media_id
    if media_id is None and generation.source_prediction_id is not None:
        prediction = await session.get(Prediction, generation.source_prediction_id)
        media_id = prediction.media_resource_id if prediction is not None else None
    media = await session.get(MediaResource, media_id) if media_id else None
    if media is None:
        return None  # gone since: Compute is told nothing, and refuses a source strategy
    return SourcePart(
        key=media.storage_key,
        media_id=str(media.id),
        prediction_id=_id(generation.source_prediction_id),
    )


async def load(session: AsyncSession, generation: Generation, config: WorkerConfig) -> RequestParts:
    """Every part of a generation's request. The components the generation copied from its
    look when it was created (products, subject, style, shot type, background) are read by
    those ids; the outfit and guidelines are the look's now."""
    look = await session.get(ShootingLook, generation.look_id) if generation.look_id else None
    shooting = (
        await session.get(Shooting, generation.shooting_id) if generation.shooting_id else None
    )
    product_ids = [i for i in (generation.product_id, generation.second_product_id) if i]
    products = await _products(session, product_ids)
    guidelines, default = await _guidelines(session, look, shooting)
    return RequestParts(
        strategy=generation.strategy.value,
        output=OutputPart(width=config.width, height=config.height, format=config.format),
        shot_type=await _shot_type(session, generation.shot_type_id),
        main_product=products.get(generation.product_id) if generation.product_id else None,
        second_product=(
            products.get(generation.second_product_id) if generation.second_product_id else None
        ),
        outfit=await _outfit(session, look),
        subject=await _subject(session, generation.subject_id),
        style=await _style(session, generation.style_id),
        background=await _background(session, generation.background_preset_id),
        guidelines=guidelines,
        default_guideline=default,
        model=await _model(session, generation),
        prompt=config.prompt,
        negative_prompt=config.negative_prompt,
        seed=config.seed,
        source=await _source(session, generation),
        upscale=config.upscale,
    )


async def compute_inputs(
    session: AsyncSession, generation: Generation, config: WorkerConfig
) -> dict[str, Any]:
    """The task's `inputs` for a generation (image storage keys, presigned at submission)."""
    return compute_request.build(await load(session, generation, config))
