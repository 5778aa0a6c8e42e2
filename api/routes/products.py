"""Products (org-scoped: `?organization_id=` or personal)."""

from __future__ import annotations

import logging
import uuid

from fastapi import APIRouter, Response
from temporalio.service import RPCError

from api.deps import PageDep, ScopeDep, SessionDep, SettingsDep, StoreDep, TemporalDep
from core.config import Settings
from core.starts import start_caption
from core.temporal import LazyClient
from models.base import Page
from models.product import ProductCreate, ProductPublic, ProductUpdate
from services import products, run_labels, uploads

router = APIRouter(prefix="/products", tags=["products"])
log = logging.getLogger(__name__)


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
    return Page(data=await products.publics(session, rows), count=count)


@router.post("/", status_code=201)
async def create_product(
    body: ProductCreate,
    session: SessionDep,
    scope: ScopeDep,
    settings: SettingsDep,
    store: StoreDep,
    temporal: TemporalDep,
) -> ProductPublic:
    """Create a product; `images` (temp keys of presigned uploads) are verified,
    deduplicated and attached, and a cover image gets captioned in the background."""
    product = await products.create(session, scope, body, store=store)
    await session.commit()
    await uploads.discard_consumed(session, store)
    (public,) = await products.publics(session, [product])
    if public.cover_image_id is not None:
        await _start_caption(session, temporal, settings, public)
    return public


async def _start_caption(
    session: SessionDep, temporal: LazyClient, settings: Settings, product: ProductPublic
) -> None:
    assert product.cover_image_id is not None
    label = await run_labels.caption(
        session,
        media_id=product.cover_image_id,
        product_name=product.name,
        organization_id=product.organization_id,
    )
    try:
        client = await temporal.get()
        await start_caption(
            client,
            media_id=product.cover_image_id,
            product_id=product.id,
            organization_id=product.organization_id,
            owner_id=product.owner_id,
            task_queue_prefix=settings.TASK_QUEUE_PREFIX,
            deadline_seconds=settings.CAPTION_DEADLINE_SECONDS,
            label=label,
        )
    except (RPCError, RuntimeError) as error:
        # Captioning is an enrichment: the product exists either way.
        log.warning("could not start captioning of product %s: %s", product.id, error)


@router.get("/{product_id}")
async def read_product(
    product_id: uuid.UUID, session: SessionDep, scope: ScopeDep
) -> ProductPublic:
    (public,) = await products.publics(session, [await products.get(session, scope, product_id)])
    return public


@router.patch("/{product_id}")
async def update_product(
    product_id: uuid.UUID, body: ProductUpdate, session: SessionDep, scope: ScopeDep
) -> ProductPublic:
    product = await products.update(session, scope, product_id, body)
    await session.commit()
    (public,) = await products.publics(session, [product])
    return public


@router.delete("/{product_id}", status_code=204)
async def delete_product(product_id: uuid.UUID, session: SessionDep, scope: ScopeDep) -> Response:
    await products.delete(session, scope, product_id)
    await session.commit()
    return Response(status_code=204)
