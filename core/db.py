"""Async SQLAlchemy engine and sessions, one engine per process."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from sqlalchemy import event
from sqlalchemy.exc import DisconnectionError
from sqlalchemy.ext.asyncio import (
    AsyncEngine,
    AsyncSession,
    async_sessionmaker,
    create_async_engine,
)

from core.config import Settings
from core.fair_pool import FairAsyncQueuePool


def create_engine(settings: Settings, *, application_name: str) -> AsyncEngine:
    """An engine whose connections say which process holds them (`pg_stat_activity`), are
    handed out in arrival order (core/fair_pool.py) and are checked before each use, so a
    Postgres restart costs no request an error."""
    engine = create_async_engine(
        settings.async_database_url,
        pool_size=settings.DATABASE_POOL_SIZE,
        max_overflow=settings.DATABASE_MAX_OVERFLOW,
        poolclass=FairAsyncQueuePool,
        connect_args={"server_settings": {"application_name": application_name}},
    )
    event.listen(engine.sync_engine, "checkout", _ping)
    return engine


def _ping(dbapi_connection: Any, connection_record: Any, connection_proxy: Any) -> None:
    """`pool_pre_ping` in one round trip: SQLAlchemy's asyncpg ping wraps its `;` in
    BEGIN ... ROLLBACK (for pgbouncer's transaction mode, which we do not use), three round
    trips per checkout, ~8 % of the worker's Python in the P1 benchmark. A failed ping makes
    the pool discard the connection and check out another (DisconnectionError)."""
    try:
        dbapi_connection.run_async(lambda connection: connection.execute("SELECT 1"))
    except Exception as error:
        raise DisconnectionError("the pooled connection failed its ping") from error


def create_sessionmaker(engine: AsyncEngine) -> async_sessionmaker[AsyncSession]:
    # expire_on_commit=False: responses are built from objects after the boundary commits.
    return async_sessionmaker(engine, expire_on_commit=False, autoflush=False)


@asynccontextmanager
async def session_scope(
    sessionmaker: async_sessionmaker[AsyncSession],
) -> AsyncIterator[AsyncSession]:
    """A unit of work for activities and scripts: commit on success, roll back on error."""
    async with sessionmaker() as session:
        try:
            yield session
            await session.commit()
        except BaseException:
            await session.rollback()
            raise
