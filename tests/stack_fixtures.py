"""Session fixtures shared by every test that runs workflows: compute_sim and the real
worker (workflows, activities, event bridge), defined once so one session has exactly
one simulator and one worker on the default task queues."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import AsyncExitStack
from typing import Any

import pytest
from fastapi import FastAPI
from temporalio.client import Client

from compute_sim import ComputeSimServer, SimConfig
from core.config import Settings
from core.temporal import connect


def sim_baseline() -> SimConfig:
    return SimConfig(
        latency_ms=30,
        progress_steps=2,
        failure_rate=0.0,
        stuck_rate=0.0,
        drop_event_rate=0.0,
        duplicate_event_rate=0.0,
        reorder_events=False,
        webhook_url=None,
    )


@pytest.fixture(scope="session")
def sim(settings: Settings) -> Iterator[ComputeSimServer]:
    stream = f"compute:events:gen-{uuid.uuid4().hex[:8]}"
    with ComputeSimServer(
        settings.model_copy(update={"COMPUTE_EVENTS_STREAM": stream}), sim_baseline()
    ) as server:
        yield server


@pytest.fixture(scope="session")
def gen_settings(settings: Settings, sim: ComputeSimServer) -> Settings:
    """What the worker runs with: the simulator, its stream, and quick status polls."""
    assert sim.url
    return settings.model_copy(
        update={
            "COMPUTE_SERVER_API_URL": sim.url,
            "COMPUTE_EVENTS_STREAM": sim.settings.COMPUTE_EVENTS_STREAM,
            "GENERATION_POLL_INTERVAL_SECONDS": 2,
            # The bulk upload tests' image server is on 127.0.0.1, a private address:
            # allow-listed, as an operator would an internal image host.
            "OUTBOUND_ALLOWED_HOSTS": "127.0.0.1",
        }
    )


@pytest.fixture(scope="session")
async def temporal(settings: Settings) -> Client:
    return await connect(settings)


@pytest.fixture(scope="session")
async def worker(
    gen_settings: Settings, temporal: Client, app: FastAPI
) -> AsyncIterator[dict[str, Any]]:
    """The production worker assembly on the default (unprefixed) task queues, with the
    compute-event bridge, for the whole session."""
    from worker import MAX_CONCURRENT_ACTIVITIES, build_bridge, build_workers

    with ThreadPoolExecutor(max_workers=MAX_CONCURRENT_ACTIVITIES) as executor:
        worker_set = build_workers(temporal, gen_settings, executor)
        bridge, bridge_redis = build_bridge(temporal, gen_settings)
        bridge_task = asyncio.create_task(bridge.run())
        async with AsyncExitStack() as stack:
            for w in worker_set.workers:
                await stack.enter_async_context(w)
            yield {"bridge": bridge, "settings": gen_settings}
            bridge.stop()
            bridge_task.cancel()
            await asyncio.gather(bridge_task, return_exceptions=True)
        await worker_set.close()
        await bridge_redis.aclose()


@pytest.fixture
def knobs(sim: ComputeSimServer) -> Iterator[ComputeSimServer]:
    yield sim
    sim.config = sim_baseline()
