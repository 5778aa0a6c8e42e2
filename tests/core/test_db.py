"""The engine's checkout ping: a pooled connection the server killed is replaced unseen."""

from __future__ import annotations

import pytest
from sqlalchemy import text

from core.config import Settings
from core.db import create_engine


@pytest.mark.parametrize("pool_size", [1, 3])
async def test_a_connection_killed_by_the_server_is_replaced_before_use(
    settings: Settings, pool_size: int
) -> None:
    tuned = settings.model_copy(
        update={"DATABASE_POOL_SIZE": pool_size, "DATABASE_MAX_OVERFLOW": 0}
    )
    engine = create_engine(tuned, application_name="test-db-ping")
    try:
        # Fill the pool, remember the server processes behind it, then kill them all, as a
        # Postgres restart does.
        pids = set()
        connections = [await engine.connect() for _ in range(pool_size)]
        for connection in connections:
            pids.add(await connection.scalar(text("SELECT pg_backend_pid()")))
        for connection in connections:
            await connection.close()
        async with create_engine(settings, application_name="killer").connect() as killer:
            for pid in pids:
                assert await killer.scalar(text("SELECT pg_terminate_backend(:p)"), {"p": pid})
            await killer.close()

        # Every next use works, on new server processes.
        for _ in range(pool_size):
            async with engine.connect() as connection:
                pid = await connection.scalar(text("SELECT pg_backend_pid()"))
                assert pid not in pids
    finally:
        await engine.dispose()
