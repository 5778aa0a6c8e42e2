"""What a generation asks the Compute Server for, composed from its look (DESIGN §6).

A pure function of the database rows: it loads what it needs through the session and
holds no HTTP or Temporal client. The worker turns its answer into the workflow's plan
and, at submission, presigns the reference images' keys into URLs.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from models.generation import Generation
from models.media import EntityType, MediaResource
from models.product import Product
from models.shot_type import ShotType
from models.style import Style
from models.subject import Subject
from services import media as media_service
from services.generation_config import WorkerConfig

FALLBACK_PROMPT = "fashion product photo"
# The look's other parts, in prompt order, with the label each is introduced by.
_PARTS: tuple[tuple[type[Subject | Style | ShotType], str, str], ...] = (
    (Subject, "subject_id", "worn by"),
    (Style, "style_id", "style"),
    (ShotType, "shot_type_id", "shot"),
)


async def _product_parts(
    session: AsyncSession, generation: Generation
) -> tuple[list[str], list[str]]:
    """Each product's "name: description" and the storage keys of its cover images."""
    parts: list[str] = []
    image_keys: list[str] = []
    for product_id in (generation.product_id, generation.second_product_id):
        product = await session.get(Product, product_id) if product_id else None
        if product is None:
            continue
        described = f": {product.description}" if product.description else ""
        parts.append(f"{product.name}{described}")
        covers = await media_service.attached(
            session, entity_type=EntityType.PRODUCT, entity_ids=[product.id], slot="cover_image"
        )
        for media_id in covers.get(product.id, []):
            row = await session.get(MediaResource, media_id)
            if row is not None:
                image_keys.append(row.storage_key)
    return parts, image_keys


async def compute_inputs(
    session: AsyncSession, generation: Generation, config: WorkerConfig
) -> dict[str, Any]:
    """The task's `inputs`: a prompt composed from the look (unless the config names one),
    and the keys of the reference images (`input_image_keys`, presigned at submission)."""
    parts, image_keys = await _product_parts(session, generation)
    for model, attribute, label in _PARTS:
        entity_id = getattr(generation, attribute)
        entity = await session.get(model, entity_id) if entity_id else None
        if entity is not None:
            prompt = getattr(entity, "prompt", None) or entity.name
            parts.append(f"{label}: {prompt}")
    return {
        "prompt": config.prompt or "; ".join(parts) or FALLBACK_PROMPT,
        "negative_prompt": config.negative_prompt,
        "strategy": generation.strategy.value,
        "model": generation.model,
        "seed": config.seed,
        "input_image_keys": image_keys,
    }
