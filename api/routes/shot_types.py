"""Shot types (org-scoped private ones, plus public ones managed by superusers)."""

from __future__ import annotations

import uuid

from fastapi import APIRouter, Response

from api.deps import PageDep, ScopeDep, SessionDep, StoreDep
from models.base import Page
from models.media import EntityType
from models.shot_type import (
    Framing,
    ShotTypeCreate,
    ShotTypePublic,
    ShotTypeUpdate,
    ViewAngle,
    Visibility,
)
from services import shot_types, uploads

router = APIRouter(prefix="/shot-types", tags=["shot-types"])


@router.get("/")
async def list_shot_types(
    session: SessionDep,
    scope: ScopeDep,
    page: PageDep,
    visibility: Visibility | None = None,
    framing: Framing | None = None,
    view_angle: ViewAngle | None = None,
    search: str | None = None,
) -> Page[ShotTypePublic]:
    """The scope's private shot types plus every public one."""
    rows, count = await shot_types.list_(
        session,
        scope,
        skip=page.skip,
        limit=page.limit,
        visibility=visibility,
        framing=framing,
        view_angle=view_angle,
        search=search,
    )
    return Page(
        data=await uploads.with_images(session, EntityType.SHOT_TYPE, rows, ShotTypePublic),
        count=count,
    )


@router.post("/", status_code=201)
async def create_shot_type(
    body: ShotTypeCreate, session: SessionDep, scope: ScopeDep, store: StoreDep
) -> ShotTypePublic:
    """Create a private shot type in the scope; only superusers create public ones."""
    shot_type = await shot_types.create(session, scope, body, store=store)
    await session.commit()
    await uploads.discard_consumed(session, store)
    return (await uploads.with_images(session, EntityType.SHOT_TYPE, [shot_type], ShotTypePublic))[
        0
    ]


@router.get("/{shot_type_id}")
async def read_shot_type(
    shot_type_id: uuid.UUID, session: SessionDep, scope: ScopeDep
) -> ShotTypePublic:
    return (
        await uploads.with_images(
            session,
            EntityType.SHOT_TYPE,
            [await shot_types.get(session, scope, shot_type_id)],
            ShotTypePublic,
        )
    )[0]


@router.patch("/{shot_type_id}")
async def update_shot_type(
    shot_type_id: uuid.UUID, body: ShotTypeUpdate, session: SessionDep, scope: ScopeDep
) -> ShotTypePublic:
    """Update a shot type of the scope (public ones: superusers only)."""
    shot_type = await shot_types.update(session, scope, shot_type_id, body)
    await session.commit()
    return (await uploads.with_images(session, EntityType.SHOT_TYPE, [shot_type], ShotTypePublic))[
        0
    ]


@router.delete("/{shot_type_id}", status_code=204)
async def delete_shot_type(
    shot_type_id: uuid.UUID, session: SessionDep, scope: ScopeDep
) -> Response:
    """Delete a shot type no shot uses (409 otherwise; public ones: superusers only)."""
    await shot_types.delete(session, scope, shot_type_id)
    await session.commit()
    return Response(status_code=204)
