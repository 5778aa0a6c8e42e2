"""Many generations at once through the API: all complete, each exactly once."""

from __future__ import annotations

import asyncio
import time
import uuid
from typing import Any

from fastapi import FastAPI
from sqlalchemy import func, select

from models.generation import Generation, Prediction
from models.shot import ShotRevision
from tests.helpers import Api, UserHandle

LOOKS, SHOT_TYPES, OUTPUTS = 5, 10, 2
WITHIN_SECONDS = 120


async def _fifty_shots(api: Api, user: UserHandle) -> dict[str, Any]:
    """One shooting, LOOKS looks x SHOT_TYPES shot types = 50 shots, small images."""
    org = user.orgs[0]
    product = await api.create(
        "/products/", {"name": "Wool coat", "sku": uuid.uuid4().hex[:8]}, as_=user, org=org
    )
    types = [
        (await api.create("/shot-types/", {"name": f"Angle {i}"}, as_=user, org=org))["id"]
        for i in range(SHOT_TYPES)
    ]
    shooting = await api.create("/shootings/", {"name": "FW27"}, as_=user, org=org)
    shot_ids: list[str] = []
    for _ in range(LOOKS):
        look = await api.create(
            f"/shootings/{shooting['id']}/looks",
            {"main_product_id": product["id"], "shot_type_ids": types, "width": 64, "height": 64},
            as_=user,
            org=org,
        )
        shot_ids += look["shot_ids"]
    return {"org": org, "shooting_id": shooting["id"], "shot_ids": shot_ids}


async def test_generate_fifty_shots_concurrently_completes_each_once(
    api: Api, app: FastAPI, user: UserHandle, worker: dict[str, Any]
) -> None:
    world = await _fifty_shots(api, user)
    org, shot_ids = world["org"], world["shot_ids"]
    assert len(set(shot_ids)) == LOOKS * SHOT_TYPES

    began = time.monotonic()

    async def start(shot_id: str) -> str:
        r = await api.post(
            f"/shots/{shot_id}/generate",
            as_=user,
            params={"organization_id": org},
            json={"num_predictions": OUTPUTS, "config": {"sim": {"latency_ms": 0}}},
        )
        assert r.status_code == 202, r.text
        return r.json()["id"]

    generation_ids = await asyncio.gather(*(start(s) for s in shot_ids))
    assert len(set(generation_ids)) == len(shot_ids)

    params = {"organization_id": org, "shooting_id": world["shooting_id"], "limit": 500}
    async with asyncio.timeout(WITHIN_SECONDS):
        while True:
            page = (await api.get("/generations/", as_=user, params=params)).json()
            statuses = [g["status"] for g in page["data"]]
            assert "failed" not in statuses and "cancelled" not in statuses, page
            if statuses.count("completed") == len(shot_ids):
                break
            await asyncio.sleep(0.2)
    elapsed = time.monotonic() - began
    print(f"\n{len(shot_ids)} concurrent generations completed in {elapsed:.1f}s")

    generations = page["data"]
    assert page["count"] == len(shot_ids)
    assert sorted(g["id"] for g in generations) == sorted(generation_ids)
    assert sorted(g["shot_id"] for g in generations) == sorted(shot_ids)
    for g in generations:
        assert g["progress"] == 1.0 and g["attempt"] == 1
        predictions = g["predictions"]
        assert len(predictions) == OUTPUTS, g
        assert len({p["seed"] for p in predictions}) == OUTPUTS
        assert all(p["status"] == "completed" and p["media_resource_id"] for p in predictions)

    ids = [uuid.UUID(i) for i in generation_ids]
    async with app.state.sessionmaker() as session:
        total = await session.scalar(
            select(func.count()).select_from(Prediction).where(Prediction.generation_id.in_(ids))
        )
        assert total == len(ids) * OUTPUTS
        duplicates = await session.execute(
            select(Prediction.generation_id, Prediction.output_index, func.count())
            .where(Prediction.generation_id.in_(ids))
            .group_by(Prediction.generation_id, Prediction.output_index)
            .having(func.count() > 1)
        )
        assert duplicates.all() == []
        # Exactly one revision per shot, made by that shot's generation.
        revisions = (
            await session.execute(
                select(ShotRevision.shot_id, ShotRevision.generation_id, ShotRevision.version)
                .join(Generation, Generation.id == ShotRevision.generation_id)
                .where(Generation.id.in_(ids))
            )
        ).all()
    assert len(revisions) == len(ids)
    assert {str(r.shot_id) for r in revisions} == set(shot_ids)
    assert {r.version for r in revisions} == {1}
    by_shot = {g["shot_id"]: g["id"] for g in generations}
    assert all(by_shot[str(r.shot_id)] == str(r.generation_id) for r in revisions)
