"""Superuser administration: users and application settings."""

from __future__ import annotations

import uuid
from typing import Annotated

from fastapi import APIRouter, Depends, Query, Response

from api.deps import (
    PageDep,
    RedisDep,
    SessionDep,
    SettingsDep,
    SuperUser,
    get_current_superuser,
)
from core import revocations
from models.base import Page
from models.setting import AppSettingPublic, AppSettingUpdate
from models.user import User, UserCreate, UserPublic, UserUpdate
from services import app_settings, auth, users
from services.errors import BadRequest, NotFound

# The superuser check is declared once, for every route of this router.
router = APIRouter(prefix="/admin", tags=["admin"], dependencies=[Depends(get_current_superuser)])


async def _user(session: SessionDep, user_id: uuid.UUID) -> User:
    user = await users.get_user(session, user_id)
    if user is None:
        raise NotFound("User not found")
    return user


@router.get("/users")
async def list_users(
    session: SessionDep,
    page: PageDep,
    search: Annotated[str | None, Query(max_length=255)] = None,
) -> Page[UserPublic]:
    rows, count = await users.list_users(session, skip=page.skip, limit=page.limit, search=search)
    return Page(data=[UserPublic.model_validate(u) for u in rows], count=count)


@router.post("/users", status_code=201)
async def create_user(body: UserCreate, session: SessionDep) -> UserPublic:
    user = await users.create_user(session, body)
    await session.commit()
    return UserPublic.model_validate(user)


@router.get("/users/{user_id}")
async def read_user(user_id: uuid.UUID, session: SessionDep) -> UserPublic:
    return UserPublic.model_validate(await _user(session, user_id))


@router.patch("/users/{user_id}")
async def update_user(
    user_id: uuid.UUID, body: UserUpdate, session: SessionDep, me: SuperUser, redis: RedisDep
) -> UserPublic:
    """Update an account; deactivating it or setting its password ends its sessions (and
    its open WebSockets, on every API process)."""
    user = await _user(session, user_id)
    if user.id == me.id and (body.is_active is False or body.is_superuser is False):
        raise BadRequest("Superusers cannot deactivate or demote themselves")
    await users.update_user(session, user, body)
    ends_sessions = body.is_active is False or body.password is not None
    if ends_sessions:
        await auth.revoke_user_sessions(session, user.id)
    await session.commit()
    if ends_sessions:
        await revocations.sessions_ended(redis, user.id)
    return UserPublic.model_validate(user)


@router.post("/users/{user_id}/deactivate")
async def deactivate_user(
    user_id: uuid.UUID, session: SessionDep, me: SuperUser, redis: RedisDep
) -> UserPublic:
    """Deactivate an account: it can no longer log in and its sessions end."""
    return await update_user(user_id, UserUpdate(is_active=False), session, me, redis)


@router.get("/settings")
async def list_settings(session: SessionDep, settings: SettingsDep) -> Page[AppSettingPublic]:
    rows = await app_settings.list_all(session, settings)
    return Page(data=[AppSettingPublic.model_validate(r) for r in rows], count=len(rows))


@router.get("/settings/{key}")
async def read_setting(key: str, session: SessionDep, settings: SettingsDep) -> AppSettingPublic:
    for row in await app_settings.list_all(session, settings):
        if row.key == key:
            return AppSettingPublic.model_validate(row)
    raise NotFound(f"Setting {key!r} not found")


@router.put("/settings/{key}")
async def write_setting(
    key: str, body: AppSettingUpdate, session: SessionDep, settings: SettingsDep
) -> AppSettingPublic:
    """Create or replace a setting's value (known settings keep their type)."""
    row = await app_settings.set_value(session, settings, key, body.value, body.description)
    await session.commit()
    return AppSettingPublic.model_validate(row)


@router.delete("/settings/{key}", status_code=204)
async def delete_setting(key: str, session: SessionDep) -> Response:
    """Remove a stored value (a known setting falls back to its default)."""
    await app_settings.delete(session, key)
    await session.commit()
    return Response(status_code=204)
