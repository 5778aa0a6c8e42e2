"""Outfits (DOMAIN §1.11): an organization's reusable completion of a look. Products keep
their order (`outfit_product.position`); a deleted product only leaves the outfit (its link
row cascades); a deleted outfit leaves its looks without one (`shooting_look.outfit_id` is
SET NULL), as a deleted product or style leaves a look without it.

`for_look` and `product_ids_of` are what the compute request builder reads."""

from __future__ import annotations

import uuid
from collections import defaultdict
from collections.abc import Iterable, Sequence
from typing import Any

from sqlalchemy import ColumnElement, delete, func, insert, select
from sqlalchemy.ext.asyncio import AsyncSession

from models.base import utcnow
from models.outfit import Outfit, OutfitCreate, OutfitProduct, OutfitPublic, OutfitUpdate
from models.product import Product
from models.shooting import ShootingLook
from services import attachments
from services.repository import apply_update, ensure_visible, get_row, list_rows, matches
from services.tenancy import Scope


async def for_look(session: AsyncSession, look: ShootingLook) -> Outfit | None:
    """The look's outfit, if it has one (always of the look's own scope: services/looks.py
    checks the reference when it is set)."""
    if look.outfit_id is None:
        return None
    return await session.get(Outfit, look.outfit_id)


async def product_ids_of(
    session: AsyncSession, outfit_ids: Iterable[uuid.UUID]
) -> dict[uuid.UUID, list[uuid.UUID]]:
    """Each outfit's product ids in order, in one query."""
    ids = list(set(outfit_ids))
    found: dict[uuid.UUID, list[uuid.UUID]] = defaultdict(list)
    if ids:
        o = OutfitProduct
        rows = await session.execute(
            select(o.outfit_id, o.product_id)
            .where(o.outfit_id.in_(ids))
            .order_by(o.outfit_id, o.position, o.product_id)
        )
        for outfit_id, product_id in rows:
            found[outfit_id].append(product_id)
    return found


async def _check_products(session: AsyncSession, scope: Scope, ids: Sequence[uuid.UUID]) -> None:
    """Outfit products must be the scope's own (404 naming the first other one)."""
    await ensure_visible(session, Product, ids, where=scope.filter(Product), what="Product")


async def _replace_products(
    session: AsyncSession, outfit_id: uuid.UUID, product_ids: Sequence[uuid.UUID]
) -> None:
    await session.execute(delete(OutfitProduct).where(OutfitProduct.outfit_id == outfit_id))
    rows = [
        {"outfit_id": outfit_id, "product_id": product_id, "position": position}
        for position, product_id in enumerate(product_ids)
    ]
    if rows:
        await session.execute(insert(OutfitProduct), rows)


async def create(session: AsyncSession, scope: Scope, data: OutfitCreate) -> Outfit:
    await _check_products(session, scope, data.product_ids)
    outfit = scope.stamp(
        Outfit(
            name=data.name,
            styling_instruction=data.styling_instruction,
            reference_urls=list(data.reference_urls),
        )
    )
    session.add(outfit)
    await session.flush()
    await _replace_products(session, outfit.id, data.product_ids)
    return outfit


async def get(
    session: AsyncSession, scope: Scope, outfit_id: uuid.UUID, *, for_update: bool = False
) -> Outfit:
    return await get_row(
        session,
        Outfit,
        outfit_id,
        where=scope.filter(Outfit),
        what="Outfit",
        for_update=for_update,
    )


async def list_(
    session: AsyncSession, scope: Scope, *, skip: int, limit: int, search: str | None = None
) -> tuple[list[Outfit], int]:
    where: list[ColumnElement[bool]] = [scope.filter(Outfit)]
    if search:
        where.append(matches(search, Outfit.name))
    return await list_rows(session, Outfit, where=where, skip=skip, limit=limit)


async def update(
    session: AsyncSession, scope: Scope, outfit_id: uuid.UUID, data: OutfitUpdate
) -> Outfit:
    """Fields given replace the current ones (lists too); every look using it sees it."""
    outfit = await get(session, scope, outfit_id, for_update=True)
    if data.product_ids is not None:
        await _check_products(session, scope, data.product_ids)
    # An explicit null list means "leave as is" (the column is not nullable).
    exclude = {"product_ids"} | ({"reference_urls"} if data.reference_urls is None else set())
    apply_update(outfit, data, exclude=exclude)
    if data.product_ids is not None:
        await _replace_products(session, outfit.id, data.product_ids)
    outfit.updated_at = utcnow()  # a products-only edit changes the outfit too
    await session.flush()
    return outfit


async def delete_(session: AsyncSession, scope: Scope, outfit_id: uuid.UUID) -> None:
    """Its looks keep going without an outfit (SET NULL); its attachments go with it."""
    await attachments.delete(session, await get(session, scope, outfit_id, for_update=True))


async def publics(session: AsyncSession, outfits: Sequence[Outfit]) -> list[OutfitPublic]:
    """API objects; the page's products are loaded in one query."""
    products = await product_ids_of(session, [o.id for o in outfits])
    return [
        OutfitPublic.model_validate(o, update={"product_ids": products.get(o.id, [])})
        for o in outfits
    ]


# --- the looks' deprecated inline outfit fields (one release) -----------------------------

LEGACY_FIELDS = {
    "outfit_product_ids": "product_ids",
    "outfit_reference_urls": "reference_urls",
    "outfit_instruction": "styling_instruction",
}


def legacy_values(values: dict[str, Any]) -> dict[str, Any]:
    """The inline outfit fields a look request gave, named as the outfit's fields."""
    return {LEGACY_FIELDS[k]: v for k, v in values.items() if k in LEGACY_FIELDS}


async def check_legacy(session: AsyncSession, scope: Scope, given: dict[str, Any]) -> None:
    await _check_products(session, scope, given.get("product_ids") or [])


async def apply_legacy(
    session: AsyncSession, look: ShootingLook, given: dict[str, Any], *, name: str
) -> None:
    """Inline fields of a look request applied to its outfit: a look without one gets a new
    outfit; an outfit only this look uses is edited; one shared with other looks is copied
    first, so that editing this look never changes another (copy on write)."""
    outfit = await for_look(session, look)
    if outfit is not None:
        users = await session.scalar(
            select(func.count())
            .select_from(ShootingLook)
            .where(ShootingLook.outfit_id == outfit.id)
        )
        if int(users or 0) > 1:
            current = (await product_ids_of(session, [outfit.id])).get(outfit.id, [])
            outfit = await _copy(session, outfit, current)
    if outfit is None:
        outfit = Outfit(name=name, organization_id=look.organization_id, owner_id=look.owner_id)
        session.add(outfit)
        await session.flush()
    if given.get("reference_urls") is not None:
        outfit.reference_urls = list(given["reference_urls"])
    if "styling_instruction" in given:
        outfit.styling_instruction = given["styling_instruction"]
    if given.get("product_ids") is not None:
        await _replace_products(session, outfit.id, given["product_ids"])
    look.outfit_id = outfit.id
    await session.flush()


async def _copy(session: AsyncSession, outfit: Outfit, product_ids: list[uuid.UUID]) -> Outfit:
    copy = Outfit(
        name=outfit.name,
        styling_instruction=outfit.styling_instruction,
        reference_urls=list(outfit.reference_urls),
        organization_id=outfit.organization_id,
        owner_id=outfit.owner_id,
    )
    session.add(copy)
    await session.flush()
    await _replace_products(session, copy.id, product_ids)
    return copy
