"""Request dependencies as `Annotated` aliases, so route signatures read like prose."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Annotated

from fastapi import Depends, Query, Request
from fastapi.security import OAuth2PasswordBearer
from redis.asyncio import Redis
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession

from core.config import Settings
from core.storage import ObjectStore
from core.temporal import LazyClient
from models.user import User
from services import auth
from services.errors import Forbidden, Unauthorized
from services.tenancy import Scope, resolve_scope

oauth2_scheme = OAuth2PasswordBearer(tokenUrl="/api/v1/login/access-token", auto_error=False)


# Dependencies without I/O are `async def` on purpose: FastAPI runs a plain `def` dependency
# in a worker thread, a thread hop per request for a dictionary lookup.
async def get_settings(request: Request) -> Settings:
    return request.app.state.settings


async def get_session(request: Request) -> AsyncIterator[AsyncSession]:
    # Routes commit explicitly at the end of a write (the request boundary commits);
    # anything uncommitted is rolled back when the session closes.
    async with request.app.state.sessionmaker() as session:
        yield session


async def get_engine(request: Request) -> AsyncEngine:
    return request.app.state.engine


async def get_redis(request: Request) -> Redis:
    return request.app.state.redis


async def get_store(request: Request) -> ObjectStore:
    return request.app.state.store


async def get_temporal(request: Request) -> LazyClient:
    return request.app.state.temporal


SettingsDep = Annotated[Settings, Depends(get_settings)]
EngineDep = Annotated[AsyncEngine, Depends(get_engine)]
RedisDep = Annotated[Redis, Depends(get_redis)]
StoreDep = Annotated[ObjectStore, Depends(get_store)]
TemporalDep = Annotated[LazyClient, Depends(get_temporal)]
SessionDep = Annotated[AsyncSession, Depends(get_session)]
TokenDep = Annotated[str | None, Depends(oauth2_scheme)]


async def get_current_user(session: SessionDep, settings: SettingsDep, token: TokenDep) -> User:
    if not token:
        raise Unauthorized("Not authenticated")
    return await auth.user_from_access_token(session, settings, token)


CurrentUser = Annotated[User, Depends(get_current_user)]


async def get_current_superuser(user: CurrentUser) -> User:
    if not user.is_superuser:
        raise Forbidden("Not enough permissions")
    return user


SuperUser = Annotated[User, Depends(get_current_superuser)]


async def get_scope(
    session: SessionDep,
    user: CurrentUser,
    organization_id: Annotated[
        uuid.UUID | None,
        Query(description="Act on this organization's resources (membership required)."),
    ] = None,
) -> Scope:
    return await resolve_scope(session, user=user, organization_id=organization_id)


ScopeDep = Annotated[Scope, Depends(get_scope)]


@dataclass(frozen=True, slots=True)
class Pagination:
    skip: int
    limit: int


async def get_pagination(
    skip: Annotated[int, Query(ge=0, le=1_000_000)] = 0,
    limit: Annotated[int, Query(ge=1, le=500)] = 100,
) -> Pagination:
    return Pagination(skip=skip, limit=limit)


PageDep = Annotated[Pagination, Depends(get_pagination)]
