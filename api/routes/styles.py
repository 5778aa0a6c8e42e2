"""Styles (org-scoped: `?organization_id=` or personal)."""

from __future__ import annotations

import uuid

from fastapi import APIRouter, Response

from api.deps import PageDep, ScopeDep, SessionDep, StoreDep
from models.base import Page
from models.media import EntityType
from models.style import StyleCreate, StylePublic, StyleUpdate
from services import styles, uploads

router = APIRouter(prefix="/styles", tags=["styles"])


@router.get("/")
async def list_styles(
    session: SessionDep, scope: ScopeDep, page: PageDep, search: str | None = None
) -> Page[StylePublic]:
    rows, count = await styles.list_(
        session, scope, skip=page.skip, limit=page.limit, search=search
    )
    return Page(
        data=await uploads.with_images(session, EntityType.STYLE, rows, StylePublic), count=count
    )


@router.post("/", status_code=201)
async def create_style(
    body: StyleCreate, session: SessionDep, scope: ScopeDep, store: StoreDep
) -> StylePublic:
    style = await styles.create(session, scope, body, store=store)
    await session.commit()
    await uploads.discard_consumed(session, store)
    return (await uploads.with_images(session, EntityType.STYLE, [style], StylePublic))[0]


@router.get("/{style_id}")
async def read_style(style_id: uuid.UUID, session: SessionDep, scope: ScopeDep) -> StylePublic:
    return (
        await uploads.with_images(
            session, EntityType.STYLE, [await styles.get(session, scope, style_id)], StylePublic
        )
    )[0]


@router.patch("/{style_id}")
async def update_style(
    style_id: uuid.UUID, body: StyleUpdate, session: SessionDep, scope: ScopeDep
) -> StylePublic:
    style = await styles.update(session, scope, style_id, body)
    await session.commit()
    return (await uploads.with_images(session, EntityType.STYLE, [style], StylePublic))[0]


@router.delete("/{style_id}", status_code=204)
async def delete_style(style_id: uuid.UUID, session: SessionDep, scope: ScopeDep) -> Response:
    await styles.delete(session, scope, style_id)
    await session.commit()
    return Response(status_code=204)
