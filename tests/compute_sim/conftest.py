"""A compute_sim server per session on the real Redis and S3 of the test stack."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Iterator
from typing import Any

import pytest
from redis.asyncio import Redis

from compute_sim import ComputeSimServer, SimConfig
from core.compute import ComputeClient
from core.config import Settings
from core.storage import s3_client


def baseline() -> SimConfig:
    """Fast, fault-free knobs; tests add faults per task or through `knobs`."""
    return SimConfig(
        latency_ms=40,
        progress_steps=3,
        failure_rate=0.0,
        stuck_rate=0.0,
        drop_event_rate=0.0,
        duplicate_event_rate=0.0,
        reorder_events=False,
        webhook_url=None,
    )


@pytest.fixture(scope="session")
def sim_settings(settings: Settings) -> Settings:
    # Its own events stream, so nothing else reading compute:events sees these tasks.
    stream = f"compute:events:test-{uuid.uuid4().hex[:10]}"
    return settings.model_copy(update={"COMPUTE_EVENTS_STREAM": stream})


@pytest.fixture(scope="session")
def sim_server(sim_settings: Settings) -> Iterator[ComputeSimServer]:
    with ComputeSimServer(sim_settings, baseline()) as server:
        yield server


@pytest.fixture
def knobs(sim_server: ComputeSimServer) -> Iterator[ComputeSimServer]:
    """The server, for a test that changes server-wide knobs; restored afterwards."""
    yield sim_server
    sim_server.config = baseline()


@pytest.fixture(scope="session")
async def compute(
    sim_server: ComputeSimServer, sim_settings: Settings
) -> AsyncIterator[ComputeClient]:
    assert sim_server.url is not None
    client = ComputeClient(sim_server.url, sim_settings.COMPUTE_SERVER_ADMIN_TOKEN, timeout=10)
    yield client
    await client.aclose()


@pytest.fixture(scope="session")
async def redis(sim_settings: Settings) -> AsyncIterator[Redis]:
    client = Redis.from_url(sim_settings.REDIS_URL, decode_responses=True)
    yield client
    await client.delete(sim_settings.COMPUTE_EVENTS_STREAM)
    await client.aclose()


@pytest.fixture(scope="session")
def stream(sim_settings: Settings) -> str:
    return sim_settings.COMPUTE_EVENTS_STREAM


@pytest.fixture(scope="session")
def s3(sim_settings: Settings) -> Any:
    return s3_client(sim_settings)
