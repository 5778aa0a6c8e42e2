"""Generation tests: compute_sim, the real worker (workflows, activities, event bridge)
and the API, all on the session's real services."""

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
from tests.helpers import Api, UserHandle


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


async def make_shot(api: Api, user: UserHandle, *, shot_types: int = 1) -> dict[str, Any]:
    """A shooting with one look and `shot_types` shots in the user's organization."""
    org = user.orgs[0]
    product = await api.create(
        "/products/", {"name": "Silk dress", "sku": uuid.uuid4().hex[:8]}, as_=user, org=org
    )
    types = [
        (await api.create("/shot-types/", {"name": f"Front {i}"}, as_=user, org=org))["id"]
        for i in range(shot_types)
    ]
    shooting = await api.create("/shootings/", {"name": "SS27"}, as_=user, org=org)
    look = await api.create(
        f"/shootings/{shooting['id']}/looks",
        {"main_product_id": product["id"], "shot_type_ids": types, "width": 256, "height": 320},
        as_=user,
        org=org,
    )
    return {"org": org, "shooting": shooting, "look": look, "shot_ids": look["shot_ids"]}


async def wait_status(
    api: Api,
    user: UserHandle,
    org: str,
    generation_id: str,
    statuses: set[str],
    within: float = 60,
) -> dict[str, Any]:
    """Poll GET /generations/{id} until its status is one of `statuses`."""
    deadline = asyncio.get_running_loop().time() + within
    while True:
        r = await api.get(
            f"/generations/{generation_id}", as_=user, params={"organization_id": org}
        )
        body = r.json()
        if body["status"] in statuses:
            return body
        if asyncio.get_running_loop().time() > deadline:
            raise AssertionError(f"generation still {body['status']} after {within}s: {body}")
        await asyncio.sleep(0.1)
