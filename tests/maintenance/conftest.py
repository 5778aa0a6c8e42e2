"""Maintenance tests: the real workers on task queues of this module only, an API app that
starts its workflows on those queues, and helpers to plant rows and objects."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import AsyncExitStack

import httpx
import pytest
from fastapi import FastAPI
from temporalio.client import Client

from core.config import Settings
from core.storage import ObjectStore
from core.temporal import connect
from tests.helpers import Api


@pytest.fixture(scope="session")
async def mt_temporal(settings: Settings) -> Client:
    return await connect(settings)


@pytest.fixture(scope="module")
async def mt_queues(mt_temporal: Client, settings: Settings) -> AsyncIterator[str]:
    """The production worker assembly on task queues unique to this module; yields the
    prefix (workflows started elsewhere never land on these workers, nor ours on theirs)."""
    from worker import MAX_CONCURRENT_ACTIVITIES, build_workers

    prefix = f"test-mt-{uuid.uuid4().hex[:8]}-"
    with ThreadPoolExecutor(max_workers=MAX_CONCURRENT_ACTIVITIES) as executor:
        worker_set = build_workers(mt_temporal, settings, executor, task_queue_prefix=prefix)
        async with AsyncExitStack() as stack:
            for w in worker_set.workers:
                await stack.enter_async_context(w)
            yield prefix
        await worker_set.close()


@pytest.fixture(scope="module")
async def mt_app(settings: Settings, mt_queues: str) -> AsyncIterator[FastAPI]:
    """An API app whose workflow starts go to this module's workers."""
    from api.main import create_app

    application = create_app(settings.model_copy(update={"TASK_QUEUE_PREFIX": mt_queues}))
    async with application.router.lifespan_context(application):
        yield application


@pytest.fixture(scope="module")
async def mt_api(mt_app: FastAPI, settings: Settings) -> AsyncIterator[Api]:
    transport = httpx.ASGITransport(app=mt_app)
    async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as c:
        yield Api(c, settings)


@pytest.fixture(scope="session")
def store(settings: Settings) -> ObjectStore:
    return ObjectStore(settings)


@pytest.fixture
def scratch_bucket(store: ObjectStore) -> str:
    """A bucket name of this test alone (not created: tests decide when it exists)."""
    return f"mt-{uuid.uuid4().hex[:12]}"
