"""Background and resolution presets: the scope's own plus system presets (read-only)."""

from __future__ import annotations

import uuid
from typing import Annotated

from fastapi import APIRouter, Query, Response

from api.deps import PageDep, ScopeDep, SessionDep
from models.base import Page
from models.preset import (
    BackgroundPreset,
    BackgroundPresetCreate,
    BackgroundPresetPublic,
    BackgroundPresetUpdate,
    ResolutionPreset,
    ResolutionPresetCreate,
    ResolutionPresetPublic,
    ResolutionPresetUpdate,
)
from services import presets

SystemFlag = Annotated[
    bool, Query(description="Create a system preset visible to everybody (superusers only).")
]

backgrounds = APIRouter(prefix="/background-presets", tags=["presets"])
resolutions = APIRouter(prefix="/resolution-presets", tags=["presets"])


@backgrounds.get("/")
async def list_background_presets(
    session: SessionDep, scope: ScopeDep, page: PageDep, search: str | None = None
) -> Page[BackgroundPresetPublic]:
    """The scope's background presets plus the system ones (system first)."""
    rows, count = await presets.list_(
        session, scope, BackgroundPreset, skip=page.skip, limit=page.limit, search=search
    )
    return Page(data=[BackgroundPresetPublic.model_validate(r) for r in rows], count=count)


@backgrounds.post("/", status_code=201)
async def create_background_preset(
    body: BackgroundPresetCreate, session: SessionDep, scope: ScopeDep, system: SystemFlag = False
) -> BackgroundPresetPublic:
    preset = await presets.create(session, scope, BackgroundPreset, body, system=system)
    await session.commit()
    return BackgroundPresetPublic.model_validate(preset)


@backgrounds.get("/{preset_id}")
async def read_background_preset(
    preset_id: uuid.UUID, session: SessionDep, scope: ScopeDep
) -> BackgroundPresetPublic:
    preset = await presets.get(session, scope, BackgroundPreset, preset_id)
    return BackgroundPresetPublic.model_validate(preset)


@backgrounds.patch("/{preset_id}")
async def update_background_preset(
    preset_id: uuid.UUID, body: BackgroundPresetUpdate, session: SessionDep, scope: ScopeDep
) -> BackgroundPresetPublic:
    preset = await presets.update(session, scope, BackgroundPreset, preset_id, body)
    await session.commit()
    return BackgroundPresetPublic.model_validate(preset)


@backgrounds.delete("/{preset_id}", status_code=204)
async def delete_background_preset(
    preset_id: uuid.UUID, session: SessionDep, scope: ScopeDep
) -> Response:
    await presets.delete(session, scope, BackgroundPreset, preset_id)
    await session.commit()
    return Response(status_code=204)


@resolutions.get("/")
async def list_resolution_presets(
    session: SessionDep, scope: ScopeDep, page: PageDep, search: str | None = None
) -> Page[ResolutionPresetPublic]:
    """The scope's resolution presets plus the system ones (system first)."""
    rows, count = await presets.list_(
        session, scope, ResolutionPreset, skip=page.skip, limit=page.limit, search=search
    )
    return Page(data=[ResolutionPresetPublic.model_validate(r) for r in rows], count=count)


@resolutions.post("/", status_code=201)
async def create_resolution_preset(
    body: ResolutionPresetCreate, session: SessionDep, scope: ScopeDep, system: SystemFlag = False
) -> ResolutionPresetPublic:
    preset = await presets.create(session, scope, ResolutionPreset, body, system=system)
    await session.commit()
    return ResolutionPresetPublic.model_validate(preset)


@resolutions.get("/{preset_id}")
async def read_resolution_preset(
    preset_id: uuid.UUID, session: SessionDep, scope: ScopeDep
) -> ResolutionPresetPublic:
    preset = await presets.get(session, scope, ResolutionPreset, preset_id)
    return ResolutionPresetPublic.model_validate(preset)


@resolutions.patch("/{preset_id}")
async def update_resolution_preset(
    preset_id: uuid.UUID, body: ResolutionPresetUpdate, session: SessionDep, scope: ScopeDep
) -> ResolutionPresetPublic:
    preset = await presets.update(session, scope, ResolutionPreset, preset_id, body)
    await session.commit()
    return ResolutionPresetPublic.model_validate(preset)


@resolutions.delete("/{preset_id}", status_code=204)
async def delete_resolution_preset(
    preset_id: uuid.UUID, session: SessionDep, scope: ScopeDep
) -> Response:
    await presets.delete(session, scope, ResolutionPreset, preset_id)
    await session.commit()
    return Response(status_code=204)


router = APIRouter()
router.include_router(backgrounds)
router.include_router(resolutions)
