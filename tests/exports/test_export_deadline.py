"""An export ends within EXPORT_DEADLINE_SECONDS: past it the run ends `failed` naming the
deadline and cleans up as any failure does (no multipart upload, no archive left behind).
Real services; the session worker runs in this process, so its settings and the image
conversion can be slowed down here."""

from __future__ import annotations

import asyncio
import time
from typing import Any

import pytest
from fastapi import FastAPI
from temporalio.client import Client, WorkflowExecutionStatus

from activities import export_zip
from core.config import Settings
from tests.exports.support import (
    eventually,
    multipart_uploads,
    seed_approved_images,
    shot,
    wait_export,
)
from tests.helpers import Api, UserHandle
from workflows.export_types import ExportOutcome

DEADLINE_SECONDS = 5
IMAGES = 6
CONVERT_SECONDS = 1.5  # per image: IMAGES of them take well past the deadline


@pytest.fixture
def slow_conversion(monkeypatch: pytest.MonkeyPatch) -> None:
    convert = export_zip.convert

    def slow(*args: Any, **kwargs: Any) -> Any:
        time.sleep(CONVERT_SECONDS)
        return convert(*args, **kwargs)

    monkeypatch.setattr(export_zip, "convert", slow)


async def test_a_zip_export_past_its_deadline_fails_and_cleans_up(
    api: Api,
    user: UserHandle,
    worker: dict[str, Any],
    app: FastAPI,
    temporal: Client,
    gen_settings: Settings,
    monkeypatch: pytest.MonkeyPatch,
    slow_conversion: None,
) -> None:
    # The worker's activities read the deadline from the settings they were built with.
    monkeypatch.setattr(gen_settings, "EXPORT_DEADLINE_SECONDS", DEADLINE_SECONDS)
    world = await seed_approved_images(app, api, user, count=IMAGES, size=(256, 256))
    org = world["org"]
    loop = asyncio.get_running_loop()
    began = loop.time()
    r = await api.post(
        "/exports/",
        as_=user,
        params={"organization_id": org},
        json={"shooting_id": world["shooting"]["id"], "format": "png"},
    )
    assert r.status_code == 202, r.text
    export_id = r.json()["id"]
    store = app.state.store

    async def uploading() -> bool:
        return bool(multipart_uploads(store, export_id))

    await eventually(uploading, within=DEADLINE_SECONDS, what="the zip's multipart upload")

    done = await wait_export(api, user, org, export_id, within=DEADLINE_SECONDS + 40)
    elapsed = loop.time() - began
    assert done["status"] == "failed", done
    assert "EXPORT_DEADLINE_SECONDS" in done["error_message"], done["error_message"]
    assert f"{DEADLINE_SECONDS} s" in done["error_message"]
    assert elapsed < DEADLINE_SECONDS + 20, elapsed  # not IMAGES * CONVERT_SECONDS and more
    assert done["download_url"] is None and done["completed_at"]

    handle = temporal.get_workflow_handle(f"export-{export_id}", result_type=ExportOutcome)
    outcome = await asyncio.wait_for(handle.result(), 30)
    assert outcome.status == "failed"
    assert (await handle.describe()).status == WorkflowExecutionStatus.COMPLETED

    # Cleaned up as a failure is: the upload aborted, no archive, no shot marked exported.
    async def cleaned() -> bool:
        return multipart_uploads(store, export_id) == []

    await eventually(cleaned, within=15, what="the export's multipart upload aborted")
    listed = store.client.list_objects_v2(Bucket=store.bucket, Prefix=f"exports/{export_id}/")
    assert not [o["Key"] for o in listed.get("Contents", []) if o["Key"].endswith(".zip")]
    for shot_id in world["shot_ids"]:
        assert (await shot(api, user, org, shot_id)).get("exported_at") is None
