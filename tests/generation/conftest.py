"""Helpers of the generation tests (fixtures live in tests/stack_fixtures.py)."""

from __future__ import annotations

import asyncio
import uuid
from typing import Any

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
