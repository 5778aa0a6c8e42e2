"""A worker killed in the middle of a zip: the retried attempt resumes the multipart upload
from the last heartbeat, and the archive is byte for byte the uninterrupted one."""

from __future__ import annotations

import hashlib
import uuid
from pathlib import Path
from typing import Any

from fastapi import FastAPI
from temporalio.client import Client, WorkflowHandle

from core.config import Settings
from core.starts import start_export
from models.export_schemas import ExportCreate
from services import exports
from services.tenancy import Scope
from tests.exports.support import (
    download,
    eventually,
    multipart_uploads,
    open_zip,
    seed_approved_images,
    wait_export,
)
from tests.helpers import Api, ThrottledProxy, UserHandle, WorkerProcess
from workflows.export_types import ExportOutcome

IMAGES = 12
SIZE = (1024, 1280)  # noise: about 4 MB each as PNG, so the archive spans ~9 parts of 5 MiB
# ~48 MB read and ~48 MB written by the archive: at least ~5 s each way.
S3_RATE = 10 * 1024 * 1024


async def _checkpoint(temporal: Client, handle: WorkflowHandle) -> dict[str, Any] | None:
    """The zip activity's heartbeat details as Temporal holds them (None before any)."""
    description = await handle.describe()
    for pending in description.raw_description.pending_activities:
        if pending.activity_type.name != "export.build_zip":
            continue
        if not pending.HasField("heartbeat_details"):
            return None
        (details,) = await temporal.data_converter.decode(pending.heartbeat_details.payloads)
        return details
    return None


async def test_killed_worker_resumes_the_upload_and_the_zip_is_identical(
    api: Api,
    user: UserHandle,
    app: FastAPI,
    worker: dict[str, Any],
    gen_settings: Settings,
    temporal: Client,
    tmp_path: Path,
) -> None:
    # A worker process of its own (task queues with a unique prefix); it boots while the
    # reference export runs. It reaches the bucket through a proxy at S3_RATE each way, so
    # its archive takes seconds however fast the machine is: the SDK sends heartbeats at
    # most every 0.8 x 3 s, and one with an uploaded part must reach Temporal mid-archive.
    prefix = f"export-kill-{uuid.uuid4().hex[:8]}-"
    assert gen_settings.R2_ENDPOINT_URL
    async with ThrottledProxy(gen_settings.R2_ENDPOINT_URL, S3_RATE) as proxy:
        process = WorkerProcess(
            gen_settings, prefix, tmp_path / "worker.log", env={"R2_ENDPOINT_URL": proxy.url}
        )
        process.start()
        try:
            world = await seed_approved_images(app, api, user, count=IMAGES, size=SIZE)
            org, shooting_id = world["org"], world["shooting"]["id"]
            body = {"shooting_id": shooting_id, "format": "png"}

            # The reference: the same export, uninterrupted, on the in-process worker.
            r = await api.post("/exports/", as_=user, params={"organization_id": org}, json=body)
            assert r.status_code == 202, r.text
            reference = await wait_export(api, user, org, r.json()["id"], within=120)
            assert reference["status"] == "completed", reference
            expected = await download(reference["download_url"])

            scope = Scope(user_id=uuid.UUID(user.id), organization_id=uuid.UUID(org), role=None)
            async with app.state.sessionmaker() as session:
                export = await exports.create(session, scope, ExportCreate.model_validate(body))
                await session.commit()
            handle = await start_export(
                temporal,
                export_id=export.id,
                organization_id=export.organization_id,
                owner_id=export.owner_id,
                shooting_id=export.shooting_id,
                task_queue_prefix=prefix,
                heartbeat_timeout_seconds=3,
            )

            async def part_checkpointed() -> dict[str, Any] | None:
                process_alive = process.running
                assert process_alive, process.log_tail()
                details = await _checkpoint(temporal, handle)
                if details and details["parts"] and details["next_index"] < IMAGES:
                    return details
                return None

            checkpoint = await eventually(
                part_checkpointed, within=180, what="a heartbeat with an uploaded part", every=0.05
            )
            process.kill()  # mid-archive: images still to convert, parts already uploaded
            parts_done = len(checkpoint["parts"])
            upload_id = checkpoint["upload_id"]
            store = app.state.store
            assert [u["UploadId"] for u in multipart_uploads(store, str(export.id))] == [upload_id]

            process.start()
            done = await wait_export(api, user, org, str(export.id), within=180)
            assert done["status"] == "completed", (done, process.log_tail())
            outcome: ExportOutcome = await handle.result()
        finally:
            process.stop()

    # Resumed, not restarted: the same upload, continued after the checkpoint's parts.
    assert outcome.zip is not None
    assert outcome.zip.upload_id == upload_id
    assert outcome.zip.resumed_from_part >= parts_done >= 1
    history = await handle.fetch_history()
    attempts = [
        e.activity_task_started_event_attributes.attempt
        for e in history.events
        if e.HasField("activity_task_started_event_attributes")
    ]
    assert max(attempts) >= 2
    assert multipart_uploads(store, str(export.id)) == []

    actual = await download(done["download_url"])
    assert hashlib.sha256(actual).hexdigest() == hashlib.sha256(expected).hexdigest()
    assert len(open_zip(actual).namelist()) == IMAGES + 1
    assert outcome.zip.parts >= 3
