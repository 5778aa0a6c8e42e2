"""The engines' pool: a connection killed by the server is replaced unseen (the checkout
ping), and connections go to waiters in arrival order (core/fair_pool.py)."""

from __future__ import annotations

import asyncio

import pytest
from sqlalchemy import exc, text

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


async def test_a_returned_connection_goes_to_the_oldest_waiter(settings: Settings) -> None:
    # With SQLAlchemy's own queue the holder, checking out again right after returning its
    # connection, takes it back before the woken waiter runs (and the waiter queues again).
    tuned = settings.model_copy(update={"DATABASE_POOL_SIZE": 1, "DATABASE_MAX_OVERFLOW": 0})
    engine = create_engine(tuned, application_name="test-db-fair")
    order: list[str] = []
    try:
        held = await engine.connect()
        await held.scalar(text("SELECT 1"))

        async def waiter() -> None:
            async with engine.connect() as connection:
                order.append("waiter")
                await connection.scalar(text("SELECT 1"))

        task = asyncio.create_task(waiter())
        await asyncio.sleep(0.1)  # the waiter is queued for the only connection
        assert engine.pool.waiting == 1  # type: ignore[attr-defined]
        await held.close()
        async with engine.connect() as again:  # a newcomer right behind the return
            order.append("newcomer")
            await again.scalar(text("SELECT 1"))
        await task
        assert order == ["waiter", "newcomer"]
    finally:
        await engine.dispose()


async def test_a_checkout_waits_at_most_the_pool_timeout(settings: Settings) -> None:
    tuned = settings.model_copy(update={"DATABASE_POOL_SIZE": 1, "DATABASE_MAX_OVERFLOW": 0})
    engine = create_engine(tuned, application_name="test-db-timeout")
    engine.pool._timeout = 0.2  # type: ignore[attr-defined]
    try:
        async with engine.connect():
            with pytest.raises(exc.TimeoutError):
                async with engine.connect():
                    pass
        async with engine.connect() as connection:  # the timed-out waiter left no trace
            assert await connection.scalar(text("SELECT 1")) == 1
        assert engine.pool.waiting == 0  # type: ignore[attr-defined]
    finally:
        await engine.dispose()
