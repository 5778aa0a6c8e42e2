"""ExportWorkflow end to end on the real services: REST → Temporal → bucket / webhook."""

from __future__ import annotations

import asyncio
import contextlib
import csv
import hashlib
import io
import json
import uuid
from typing import Any

from fastapi import FastAPI
from PIL import Image
from temporalio.client import Client, WorkflowExecutionStatus, WorkflowFailureError

from models.media import MediaResource
from tests.exports.support import (
    approve,
    download,
    eventually,
    generated_shots,
    multipart_uploads,
    open_zip,
    seed_approved_images,
    shot,
    wait_export,
)
from tests.helpers import Api, UserHandle
from tests.workflows.conftest import record_history

MANIFEST_COLUMNS = [
    "file_name",
    "shot_id",
    "look",
    "shot_type",
    "sku",
    "media_id",
    "width",
    "height",
    "bytes",
    "md5",
]


async def _start(api: Api, user: UserHandle, org: str, **body: Any) -> dict[str, Any]:
    r = await api.post("/exports/", as_=user, params={"organization_id": org}, json=body)
    assert r.status_code == 202, r.text
    return r.json()


async def _sku(api: Api, user: UserHandle, world: dict[str, Any]) -> str:
    product_id = world["look"]["main_product_id"]
    r = await api.get(f"/products/{product_id}", as_=user, params={"organization_id": world["org"]})
    return r.json()["sku"]


async def _org_events(app: FastAPI, org: str, kind: str, export_id: str) -> list[dict]:
    found = []
    for _id, fields in await app.state.redis.xrange(f"events:org:{org}"):
        message = json.loads(fields[b"m"])
        if message["type"] == kind and message["payload"]["id"] == export_id:
            found.append(message)
    return found


async def test_zip_of_approved_images_renamed_converted_with_manifest(
    api: Api, user: UserHandle, worker: dict[str, Any], app: FastAPI, temporal: Client
) -> None:
    world = await generated_shots(api, user, shot_types=2, outputs=[2, 1])
    org, (approved, in_review) = world["org"], world["shot_ids"]
    await approve(api, user, org, approved)
    started = await _start(
        api, user, org, shooting_id=world["shooting"]["id"], format="png", max_dimension=128
    )
    assert started["workflow_id"] == f"export-{started['id']}"
    assert started["temporal_ui_url"].endswith(started["workflow_id"])
    assert "webhook_secret" not in started
    assert started["download_url"] is None

    done = await wait_export(api, user, org, started["id"])
    assert done["status"] == "completed", done
    assert (done["total_images"], done["processed_images"], done["failed_images"]) == (2, 2, 0)
    assert done["progress"] == 1.0 and done["completed_at"] and done["started_at"]
    assert done["download_url"]

    archive = open_zip(await download(done["download_url"]))
    sku = await _sku(api, user, world)
    names = [f"{sku}_Front-0_1.png", f"{sku}_Front-0_2.png"]
    assert archive.namelist() == [*names, "manifest.csv"]
    rows = list(csv.DictReader(io.StringIO(archive.read("manifest.csv").decode())))
    assert list(rows[0]) == MANIFEST_COLUMNS
    media_ids = (await shot(api, user, org, approved))["current_revision"]["media_resource_ids"]
    for name, row, media_id in zip(names, rows, media_ids, strict=True):
        content = archive.read(name)
        image = Image.open(io.BytesIO(content))
        # 256x320 sources, longest side brought down to 128 with the aspect kept
        assert (image.format, image.size) == ("PNG", (102, 128))
        assert row == {
            "file_name": name,
            "shot_id": approved,
            "look": "look-1",
            "shot_type": "Front 0",
            "sku": sku,
            "media_id": media_id,
            "width": "102",
            "height": "128",
            "bytes": str(len(content)),
            "md5": hashlib.md5(content).hexdigest(),
        }

    assert (await shot(api, user, org, approved))["exported_at"] is not None
    assert (await shot(api, user, org, in_review))["exported_at"] is None
    handle = temporal.get_workflow_handle(started["workflow_id"])
    outcome = await handle.result()
    assert outcome["status"] == "completed" and outcome["zip"]["resumed_from_part"] == 0
    await record_history(handle, "export_zip_completed")
    assert await _org_events(app, org, "export.completed", started["id"])
    updates = await _org_events(app, org, "export.updated", started["id"])
    # progress written from inside the zip activity reaches the socket while it runs
    assert any(
        u["payload"]["status"] == "running" and u["payload"]["processed_images"] >= 1
        for u in updates
    ), updates
    assert multipart_uploads(app.state.store, started["id"]) == []
    # a finished export cannot be cancelled
    r = await api.post(
        f"/exports/{started['id']}/cancel", as_=user, params={"organization_id": org}
    )
    assert r.status_code == 409, r.text


async def test_only_approved_excludes_in_review_and_original_keeps_bytes(
    api: Api, user: UserHandle, worker: dict[str, Any], app: FastAPI
) -> None:
    world = await generated_shots(api, user, shot_types=2, outputs=[1, 1])
    org, (approved, in_review) = world["org"], world["shot_ids"]
    await approve(api, user, org, approved)

    # everything, in the order asked for, one name for all: collisions get _2
    everything = await _start(
        api,
        user,
        org,
        shot_ids=[in_review, approved],
        only_approved=False,
        naming_template="{shooting}",
    )
    # only approved (the default): the in-review shot is left out
    approved_only = await _start(api, user, org, shot_ids=[in_review, approved])
    # nothing approved at all: the export fails and says why
    nothing = await _start(api, user, org, shot_ids=[in_review])

    done = await wait_export(api, user, org, everything["id"])
    assert done["status"] == "completed" and done["processed_images"] == 2, done
    archive = open_zip(await download(done["download_url"]))
    assert archive.namelist() == ["SS27.jpg", "SS27_2.jpg", "manifest.csv"]
    rows = list(csv.DictReader(io.StringIO(archive.read("manifest.csv").decode())))
    assert [r["shot_id"] for r in rows] == [in_review, approved]
    async with app.state.sessionmaker() as session:
        for row in rows:
            stored = await session.get(MediaResource, uuid.UUID(row["media_id"]))
            assert stored is not None
            # `original`: the stored bytes, untouched
            assert hashlib.md5(archive.read(row["file_name"])).hexdigest() == stored.content_hash

    done = await wait_export(api, user, org, approved_only["id"])
    assert done["status"] == "completed" and done["total_images"] == 1, done
    archive = open_zip(await download(done["download_url"]))
    rows = list(csv.DictReader(io.StringIO(archive.read("manifest.csv").decode())))
    assert [r["shot_id"] for r in rows] == [approved]

    done = await wait_export(api, user, org, nothing["id"])
    assert done["status"] == "failed", done
    assert done["error_message"] == "No approved images to export"
    assert done["download_url"] is None
    assert await _org_events(app, org, "export.failed", nothing["id"])

    listed = await api.get(
        "/exports/",
        as_=user,
        params={"organization_id": org, "status": "failed", "limit": 500},
    )
    assert listed.status_code == 200
    assert nothing["id"] in [e["id"] for e in listed.json()["data"]]
    assert everything["id"] not in [e["id"] for e in listed.json()["data"]]


async def test_cancel_aborts_the_upload_and_ends_cancelled(
    api: Api, user: UserHandle, worker: dict[str, Any], app: FastAPI, temporal: Client
) -> None:
    world = await seed_approved_images(app, api, user, count=8, size=(1024, 1024))
    org = world["org"]
    started = await _start(api, user, org, shooting_id=world["shooting"]["id"], format="png")
    store = app.state.store

    async def uploading() -> bool:
        return bool(multipart_uploads(store, started["id"]))

    await eventually(uploading, within=30, what="the zip's multipart upload started")
    r = await api.post(
        f"/exports/{started['id']}/cancel", as_=user, params={"organization_id": org}
    )
    assert r.status_code == 202, r.text

    done = await wait_export(api, user, org, started["id"], within=60)
    assert done["status"] == "cancelled", done
    assert done["download_url"] is None
    handle = temporal.get_workflow_handle(started["workflow_id"])
    # The row says `cancelled` before the workflow's last cleanup runs: wait for its end.
    with contextlib.suppress(WorkflowFailureError):
        await asyncio.wait_for(handle.result(), 30)
    assert (await handle.describe()).status == WorkflowExecutionStatus.CANCELED
    assert multipart_uploads(store, started["id"]) == []
    listed = store.client.list_objects_v2(Bucket=store.bucket, Prefix=f"exports/{started['id']}/")
    assert [o["Key"] for o in listed.get("Contents", [])] == [f"exports/{started['id']}/plan.json"]
    await record_history(handle, "export_zip_cancelled")
    r = await api.post(
        f"/exports/{started['id']}/cancel", as_=user, params={"organization_id": org}
    )
    assert r.status_code == 409
