"""Helpers of the generation model, outfit and rule tests: models made by the superuser,
a look world in a user's organization, generate calls."""

from __future__ import annotations

import uuid
from typing import Any

import httpx

from tests.helpers import Api, UserHandle

IMAGE_TOOLS = ["BASE_GENERATION", "IMAGE_EDITING", "UPSCALING"]


async def make_model(api: Api, superuser: UserHandle, **fields: Any) -> dict[str, Any]:
    """A generation model with a unique name (the catalogue is shared by the session)."""
    body = {
        "name": f"model-{uuid.uuid4().hex[:8]}",
        "provider": "fal_standard",
        "tool_types": IMAGE_TOOLS,
        **fields,
    }
    return await api.create("/generation-models/", body, as_=superuser)


async def make_look(
    api: Api,
    user: UserHandle,
    *,
    look: dict[str, Any] | None = None,
    shooting: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """A shooting (fields `shooting`) with one look (fields `look`) and one shot."""
    org = user.orgs[0]
    shot_type = await api.create("/shot-types/", {"name": "Front"}, as_=user, org=org)
    made = await api.create("/shootings/", {"name": "SS27", **(shooting or {})}, as_=user, org=org)
    created = await api.create(
        f"/shootings/{made['id']}/looks",
        {"shot_type_ids": [shot_type["id"]], "width": 512, "height": 640, **(look or {})},
        as_=user,
        org=org,
    )
    return {"org": org, "shooting": made, "look": created, "shot_id": created["shot_ids"][0]}


async def generate(
    api: Api, user: UserHandle, world: dict[str, Any], body: dict[str, Any]
) -> httpx.Response:
    return await api.post(
        f"/shots/{world['shot_id']}/generate",
        as_=user,
        params={"organization_id": world["org"]},
        json=body,
    )
