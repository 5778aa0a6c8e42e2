"""Products of an organization (or personal), unique by SKU within their scope."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from typing import Any

from sqlalchemy import ColumnElement, Row, select
from sqlalchemy.ext.asyncio import AsyncSession

from core.storage import ObjectStore
from models.base import public_view
from models.media import EntityType
from models.product import Product, ProductCreate, ProductPublic, ProductUpdate
from services import attachments, uploads
from services.errors import Conflict
from services.repository import apply_update, get_row, list_records, matches
from services.tenancy import Scope


async def _ensure_sku_free(
    session: AsyncSession, scope: Scope, sku: str | None, *, exclude: uuid.UUID | None = None
) -> None:
    if not sku:
        return
    query = select(Product.id).where(scope.filter(Product), Product.sku == sku)
    if exclude is not None:
        query = query.where(Product.id != exclude)
    if await session.scalar(query) is not None:
        raise Conflict(f"A product with SKU {sku!r} already exists")


async def create(
    session: AsyncSession, scope: Scope, data: ProductCreate, *, store: ObjectStore
) -> Product:
    """A product with its uploaded images ingested (deduplicated) and attached."""
    await _ensure_sku_free(session, scope, data.sku)
    product = scope.stamp(Product(**data.model_dump(exclude={"images"})))
    session.add(product)
    await session.flush()
    await uploads.attach_uploads(
        session,
        store,
        data.images,
        entity_type=EntityType.PRODUCT,
        entity_id=product.id,
        organization_id=product.organization_id,
        owner_id=product.owner_id,
    )
    return product


async def publics(
    session: AsyncSession, products: Sequence[Product | Row[Any]]
) -> list[ProductPublic]:
    """Products with their attached images (one query for the page)."""
    images = await uploads.images_of(session, EntityType.PRODUCT, [p.id for p in products])
    result = []
    for product in products:
        attached = images.get(product.id, [])
        cover = next((i.media_resource_id for i in attached if i.slot == "cover_image"), None)
        result.append(public_view(ProductPublic, product, images=attached, cover_image_id=cover))
    return result


async def list_(
    session: AsyncSession,
    scope: Scope,
    *,
    skip: int,
    limit: int,
    search: str | None = None,
    product_family: str | None = None,
    product_type: str | None = None,
    sku: str | None = None,
) -> tuple[list[Row[Any]], int]:
    """A page of products as plain rows (see list_records), for `publics`."""
    where: list[ColumnElement[bool]] = [scope.filter(Product)]
    if search:
        where.append(matches(search, Product.name, Product.sku))
    if product_family:
        where.append(Product.product_family == product_family)
    if product_type:
        where.append(Product.product_type == product_type)
    if sku:
        where.append(Product.sku == sku)
    return await list_records(session, Product, where=where, skip=skip, limit=limit)


async def get(session: AsyncSession, scope: Scope, product_id: uuid.UUID) -> Product:
    return await get_row(session, Product, product_id, where=scope.filter(Product), what="Product")


async def update(
    session: AsyncSession, scope: Scope, product_id: uuid.UUID, data: ProductUpdate
) -> Product:
    product = await get(session, scope, product_id)
    if data.sku is not None and data.sku != product.sku:
        await _ensure_sku_free(session, scope, data.sku, exclude=product.id)
    apply_update(product, data)
    await session.flush()
    return product


async def delete(session: AsyncSession, scope: Scope, product_id: uuid.UUID) -> None:
    await attachments.delete(session, await get(session, scope, product_id))
