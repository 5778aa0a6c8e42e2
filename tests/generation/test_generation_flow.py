"""GenerationWorkflow end to end: REST → Temporal → compute_sim → media → revision."""

from __future__ import annotations

import uuid
from io import BytesIO
from typing import Any

import httpx
from fastapi import FastAPI
from PIL import Image
from sqlalchemy import func, select
from temporalio.client import Client

from core.starts import start_generation
from models.media import MediaResource, MediaResourceAttachment
from tests.generation.conftest import make_shot, wait_status
from tests.helpers import Api, UserHandle
from tests.workflows.conftest import record_history


async def test_generate_shot_completes_with_predictions_and_revision(
    api: Api, user: UserHandle, worker: dict[str, Any], app: FastAPI, temporal: Client
) -> None:
    world = await make_shot(api, user)
    org, shot_id = world["org"], world["shot_ids"][0]
    r = await api.post(
        f"/shots/{shot_id}/generate",
        as_=user,
        params={"organization_id": org},
        json={"num_predictions": 2},
    )
    assert r.status_code == 202, r.text
    started = r.json()
    assert started["workflow_id"] == f"generation-{started['id']}"
    assert started["temporal_ui_url"].endswith(started["workflow_id"])

    done = await wait_status(api, user, org, started["id"], {"completed", "failed"})
    assert done["status"] == "completed", done
    assert done["progress"] == 1.0
    handle = temporal.get_workflow_handle(started["workflow_id"])
    assert await handle.result() == "completed"
    # (generation_base_completed.json is the same run from before record_and_complete.)
    await record_history(handle, "generation_record_and_complete")
    predictions = done["predictions"]
    assert len(predictions) == 2
    assert len({p["seed"] for p in predictions}) == 2
    assert all(p["status"] == "completed" and p["media_resource_id"] for p in predictions)

    # the file URL redirects to the stored image, which is a real 256x320 image
    file_url = predictions[0]["file_url"]
    redirect = await api.client.get(file_url, headers=user.headers)
    assert redirect.status_code == 302
    async with httpx.AsyncClient() as plain:
        image_bytes = (await plain.get(redirect.headers["location"])).content
    assert Image.open(BytesIO(image_bytes)).size == (256, 320)

    shot = (await api.get(f"/shots/{shot_id}", as_=user, params={"organization_id": org})).json()
    assert shot["status"] == "in_review"
    assert shot["current_revision"]["generation_id"] == started["id"]
    assert len(shot["current_revision"]["media_resource_ids"]) == 2

    async with app.state.sessionmaker() as session:
        media_ids = [p["media_resource_id"] for p in predictions]
        keys = (
            await session.scalars(
                select(MediaResource.storage_key).where(MediaResource.id.in_(media_ids))
            )
        ).all()
        assert sorted(keys) == sorted(f"media/{m}/file.jpg" for m in media_ids)
        assert (
            await session.scalar(
                select(func.count())
                .select_from(MediaResourceAttachment)
                .where(MediaResourceAttachment.media_resource_id.in_(media_ids))
            )
            == 4
        )  # one per prediction, one per revision image


async def test_compute_failure_ends_failed_with_the_error(
    api: Api, user: UserHandle, worker: dict[str, Any], temporal: Client
) -> None:
    world = await make_shot(api, user)
    org = world["org"]
    r = await api.post(
        "/generations",
        as_=user,
        params={"organization_id": org},
        json={
            "shot_id": world["shot_ids"][0],
            "config": {"sim": {"fail": "model exploded", "error_category": "provider_error"}},
        },
    )
    assert r.status_code == 202, r.text
    done = await wait_status(api, user, org, r.json()["id"], {"completed", "failed"})
    assert done["status"] == "failed"
    assert done["error_message"] == "model exploded"
    assert done["error_category"] == "provider_error"
    handle = temporal.get_workflow_handle(done["workflow_id"])
    assert await handle.result() == "failed"
    await record_history(handle, "generation_base_failed")


async def test_another_organization_gets_404_on_the_generation(
    api: Api, user: UserHandle, other_user: UserHandle, worker: dict[str, Any]
) -> None:
    world = await make_shot(api, user)
    org = world["org"]
    r = await api.post(
        f"/shots/{world['shot_ids'][0]}/generate", as_=user, params={"organization_id": org}
    )
    generation_id = r.json()["id"]
    for params in ({"organization_id": org}, {"organization_id": other_user.orgs[0]}, {}):
        assert (
            await api.get(f"/generations/{generation_id}", as_=other_user, params=params)
        ).status_code == 404
    await wait_status(api, user, org, generation_id, {"completed"})


async def test_starting_the_same_generation_twice_runs_it_once(
    api: Api, user: UserHandle, worker: dict[str, Any], temporal: Client
) -> None:
    world = await make_shot(api, user)
    org = world["org"]
    r = await api.post(
        f"/shots/{world['shot_ids'][0]}/generate",
        as_=user,
        params={"organization_id": org},
        json={"config": {"sim": {"latency_ms": 1500}}},
    )
    body = r.json()
    first = await temporal.get_workflow_handle(body["workflow_id"]).describe()
    again = await start_generation(
        temporal,
        generation_id=uuid.UUID(body["id"]),
        organization_id=uuid.UUID(org),
        owner_id=uuid.UUID(user.id),
        shooting_id=uuid.UUID(world["shooting"]["id"]),
    )
    assert (await again.describe()).run_id == first.run_id
    await wait_status(api, user, org, body["id"], {"completed"})
    # the row is completed just before the run closes: wait for the run itself
    assert await temporal.get_workflow_handle(body["workflow_id"]).result() == "completed"
    # a start after the run ended finds the generation finished and does nothing
    late = await start_generation(
        temporal,
        generation_id=uuid.UUID(body["id"]),
        organization_id=uuid.UUID(org),
        owner_id=uuid.UUID(user.id),
        shooting_id=None,
    )
    assert await late.result() == "already_finished"
    final = (
        await api.get(f"/generations/{body['id']}", as_=user, params={"organization_id": org})
    ).json()
    assert final["status"] == "completed" and len(final["predictions"]) == 1
