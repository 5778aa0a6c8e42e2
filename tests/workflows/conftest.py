"""Temporal fixtures: a client on the session's server and an in-process worker per test."""

from __future__ import annotations

import os
import uuid
from collections.abc import AsyncIterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import AsyncExitStack
from pathlib import Path

import pytest
from temporalio.client import Client, WorkflowHandle

from core.config import Settings
from core.temporal import connect

HISTORIES = Path(__file__).parent / "histories"


@pytest.fixture(scope="session")
async def temporal_client(settings: Settings) -> Client:
    return await connect(settings)


@pytest.fixture
async def worker_queues(temporal_client: Client, settings: Settings) -> AsyncIterator[str]:
    """Runs the real workers on task queues unique to this test; yields the queue prefix."""
    from worker import MAX_CONCURRENT_ACTIVITIES, build_workers

    prefix = f"test-{uuid.uuid4().hex[:8]}-"
    with ThreadPoolExecutor(max_workers=MAX_CONCURRENT_ACTIVITIES) as executor:
        worker_set = build_workers(temporal_client, settings, executor, task_queue_prefix=prefix)
        async with AsyncExitStack() as stack:
            for w in worker_set.workers:
                await stack.enter_async_context(w)
            yield prefix
        await worker_set.close()


async def record_history(handle: WorkflowHandle, name: str) -> None:
    """With SARTIQ_RECORD_HISTORIES=1, keep this run's history for the replay tests."""
    if os.environ.get("SARTIQ_RECORD_HISTORIES") != "1":
        return
    history = await handle.fetch_history()
    (HISTORIES / f"{name}.json").write_text(history.to_json())
