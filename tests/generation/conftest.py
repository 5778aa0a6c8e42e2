"""Helpers of the generation tests (fixtures live in tests/stack_fixtures.py)."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator
from typing import Any

import pytest
from fastapi import FastAPI
from redis.asyncio import Redis

from activities.generation import GenerationActivities
from core.compute import ComputeClient
from core.config import Settings
from tests.helpers import Api, UserHandle
from tests.stack_fixtures import sim_baseline

__all__ = ["make_shot", "sim_baseline", "wait_status"]


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


@pytest.fixture
async def activities(settings: Settings, app: FastAPI) -> AsyncIterator[GenerationActivities]:
    """The generation activities with the test app's clients, to call one directly."""
    redis = Redis.from_url(settings.REDIS_URL)
    compute = ComputeClient.from_settings(settings)
    yield GenerationActivities(
        settings=settings,
        sessionmaker=app.state.sessionmaker,
        redis=redis,
        compute=compute,
        store=app.state.store,
    )
    await compute.aclose()
    await redis.aclose()
