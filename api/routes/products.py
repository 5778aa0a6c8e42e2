"""Products (org-scoped: `?organization_id=` or personal)."""

from __future__ import annotations

import uuid

from fastapi import APIRouter, Response

from api.deps import PageDep, ScopeDep, SessionDep
from models.base import Page
from models.product import ProductCreate, ProductPublic, ProductUpdate
from services import products

router = APIRouter(prefix="/products", tags=["products"])


@router.get("/")
async def list_products(
    session: SessionDep,
    scope: ScopeDep,
    page: PageDep,
    search: str | None = None,
    product_family: str | None = None,
    product_type: str | None = None,
    sku: str | None = None,
) -> Page[ProductPublic]:
    rows, count = await products.list_(
        session,
        scope,
        skip=page.skip,
        limit=page.limit,
        search=search,
        product_family=product_family,
        product_type=product_type,
        sku=sku,
    )
    return Page(data=[ProductPublic.model_validate(r) for r in rows], count=count)


@router.post("/", status_code=201)
async def create_product(
    body: ProductCreate, session: SessionDep, scope: ScopeDep
) -> ProductPublic:
    product = await products.create(session, scope, body)
    await session.commit()
    return ProductPublic.model_validate(product)


@router.get("/{product_id}")
async def read_product(
    product_id: uuid.UUID, session: SessionDep, scope: ScopeDep
) -> ProductPublic:
    return ProductPublic.model_validate(await products.get(session, scope, product_id))


@router.patch("/{product_id}")
async def update_product(
    product_id: uuid.UUID, body: ProductUpdate, session: SessionDep, scope: ScopeDep
) -> ProductPublic:
    product = await products.update(session, scope, product_id, body)
    await session.commit()
    return ProductPublic.model_validate(product)


@router.delete("/{product_id}", status_code=204)
async def delete_product(product_id: uuid.UUID, session: SessionDep, scope: ScopeDep) -> Response:
    await products.delete(session, scope, product_id)
    await session.commit()
    return Response(status_code=204)
