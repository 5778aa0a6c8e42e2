"""Databases of a stack: throwaway ones on a Postgres server (tests, bench), and the real
Alembic migrations (`sartiq migrate`, `sartiq dev`, the tests and the bench all run these)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent


def plain_pg(url: str) -> str:
    """An asyncpg/libpq URL (SQLAlchemy's driver suffix removed)."""
    return url.replace("postgresql+asyncpg://", "postgresql://")


def async_url(url: str) -> str:
    """The SQLAlchemy asyncpg URL of a `postgresql://` (or `postgres://`) one."""
    for prefix in ("postgresql://", "postgres://"):
        if url.startswith(prefix):
            return "postgresql+asyncpg://" + url[len(prefix) :]
    return url


def with_database(url: str, name: str) -> str:
    """The same server URL naming database `name` instead (query string kept)."""
    base, _, query = url.partition("?")
    base = base.rsplit("/", 1)[0] if base.count("/") > 2 else base
    return f"{base}/{name}" + (f"?{query}" if query else "")


async def admin_sql(server_url: str, statement: str) -> None:
    """One statement outside a transaction (CREATE/DROP DATABASE) on the server's URL."""
    import asyncpg

    conn = await asyncpg.connect(plain_pg(server_url))
    try:
        await conn.execute(statement)
    finally:
        await conn.close()


async def create_database(server_url: str, name: str) -> None:
    await admin_sql(server_url, f'CREATE DATABASE "{name}"')


async def drop_database(server_url: str, name: str) -> None:
    # FORCE: a worker or an API process of the run may still hold a connection.
    await admin_sql(server_url, f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def alembic_config(database_url: str | None = None, *, configure_logger: bool = True) -> Any:
    """The project's alembic.ini (beside this package: an editable install, as the image
    has), aimed at `database_url` (else DATABASE_URL); `configure_logger=False` leaves the
    caller's logging alone (pytest's capture)."""
    from alembic.config import Config

    config = Config(str(ROOT / "alembic.ini"))
    if database_url:
        config.attributes["database_url"] = database_url
    config.attributes["configure_logger"] = configure_logger
    return config


def migrate_database(database_url: str | None = None, *, configure_logger: bool = True) -> None:
    """`alembic upgrade head` on DATABASE_URL (or the given async URL)."""
    from alembic import command

    command.upgrade(alembic_config(database_url, configure_logger=configure_logger), "head")
