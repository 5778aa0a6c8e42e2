"""A batch through the real worker: the shot that breaks a rule is skipped with its reason,
the rest runs to completion."""

from __future__ import annotations

import asyncio
from typing import Any

from tests.generation_models.support import make_look
from tests.helpers import Api, UserHandle


async def _ended(api: Api, user: UserHandle, path: str, params: dict[str, str]) -> dict[str, Any]:
    """The batch once it ended (polling the API: the outside world)."""
    async with asyncio.timeout(60):
        while True:
            batch: dict[str, Any] = (await api.get(path, as_=user, params=params)).json()
            if batch["status"] not in ("pending", "running"):
                return batch
            await asyncio.sleep(0.2)


async def test_batch_skips_a_rule_breaking_shot_and_runs_the_rest(
    api: Api, user: UserHandle, worker: dict[str, Any]
) -> None:
    org = user.orgs[0]
    params = {"organization_id": org}
    allowed = await api.create("/subjects/", {"name": "Ava"}, as_=user, org=org)
    other = await api.create("/subjects/", {"name": "Bea"}, as_=user, org=org)
    guideline = await api.create(
        "/guidelines/", {"name": "Only Ava", "subject_ids": [allowed["id"]]}, as_=user, org=org
    )
    world = await make_look(
        api, user, look={"subject_id": allowed["id"], "guidelines": [guideline["id"]]}
    )
    shooting_id = world["shooting"]["id"]
    bad = await api.create(
        f"/shootings/{shooting_id}/looks",
        {
            "subject_id": other["id"],
            "guidelines": [guideline["id"]],
            "shot_type_ids": world["look"]["shot_type_ids"],
            "width": 512,
            "height": 640,
        },
        as_=user,
        org=org,
    )
    r = await api.post(f"/shootings/{shooting_id}/generate", as_=user, params=params, json={})
    assert r.status_code == 202, r.text
    batch_id = r.json()["id"]
    path = f"/shootings/{shooting_id}/generations/{batch_id}"
    batch = await _ended(api, user, path, params)
    assert batch["status"] == "completed", batch
    assert (batch["total"], batch["completed"], batch["skipped"]) == (2, 1, 1), batch
    (skipped,) = batch["skipped_shots"]
    assert skipped["shot_id"] == bad["shot_ids"][0] and "Only Ava" in skipped["reason"]
