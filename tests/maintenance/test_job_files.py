"""Job files in the bucket (services/job_files.py): a bulk upload removes its working files
(plan, image manifests) however it ends, keeping its source CSV and error report; the orphan
scan removes what no job needs any more once past JOB_FILES_MAX_AGE_HOURS."""

from __future__ import annotations

import asyncio
import uuid
from datetime import UTC, datetime, timedelta

from fastapi import FastAPI
from temporalio.client import Client

from core.starts import bulk_upload_workflow_id, start_bulk_upload
from core.storage import ObjectStore
from core.temporal import MAINTENANCE_QUEUE
from models.jobs import BulkUpload, Export, JobStatus
from services import bulk_uploads
from tests.bulk_upload.support import csv_bytes, upload, wait_finished
from tests.helpers import Api, UserHandle
from tests.maintenance.support import exists, make_bucket, put
from workflows.maintenance_types import OrphanScanInput
from workflows.media_cleanup import OrphanScanWorkflow

DAY = 86_400
NEVER = 10 * 365 * DAY


def _keys(store: ObjectStore, bucket: str, prefix: str) -> set[str]:
    response = store.client.list_objects_v2(Bucket=bucket, Prefix=prefix)
    return {item["Key"] for item in response.get("Contents", [])}


async def _listed(store: ObjectStore, upload_id: str, bucket: str | None = None) -> set[str]:
    prefix = f"bulk-uploads/{upload_id}/"
    keys = await asyncio.to_thread(_keys, store, bucket or store.bucket, prefix)
    return {key.removeprefix(prefix) for key in keys}


async def test_a_completed_bulk_upload_keeps_only_its_source_and_error_report(
    mt_api: Api, store: ObjectStore, user: UserHandle
) -> None:
    data = csv_bytes(
        [["JF-1", "Dress", "", "", "", "", "", ""], ["JF-2", "", "", "", "", "", "", ""]]
    )
    r = await upload(mt_api, user, data)
    assert r.status_code == 202, r.text
    done = await wait_finished(mt_api, user, r.json()["id"])
    assert (done["status"], done["created_count"], done["failed_count"]) == ("completed", 1, 1)
    assert await _listed(store, done["id"]) == {"source.csv", "errors.csv"}


async def _direct(
    app: FastAPI, temporal: Client, queues: str, user: UserHandle, source: bytes, status: JobStatus
) -> str:
    """A bulk upload with working files already written (a run cut short before its end)."""
    upload_id = uuid.uuid4()
    store = app.state.store
    for key, body in (
        (bulk_uploads.source_key(upload_id), source),
        (bulk_uploads.plan_key(upload_id, 500), b"{}"),
        (bulk_uploads.images_key(upload_id, 0), b"{}"),
    ):
        await asyncio.to_thread(store.put, key, body)
    async with app.state.sessionmaker() as session:
        session.add(
            BulkUpload(
                id=upload_id,
                organization_id=uuid.UUID(user.orgs[0]),
                owner_id=uuid.UUID(user.id),
                source_key=bulk_uploads.source_key(upload_id),
                workflow_id=bulk_upload_workflow_id(upload_id),
                status=status,
            )
        )
        await session.commit()
    handle = await start_bulk_upload(
        temporal,
        upload_id=upload_id,
        organization_id=uuid.UUID(user.orgs[0]),
        owner_id=uuid.UUID(user.id),
        task_queue_prefix=queues,
    )
    await handle.result()
    return str(upload_id)


async def test_a_failed_or_cancelled_bulk_upload_removes_its_working_files(
    mt_app: FastAPI, mt_temporal: Client, mt_queues: str, mt_api: Api, user: UserHandle
) -> None:
    store = mt_app.state.store
    # Fails planning (an unknown column): ends failed.
    failed = await _direct(
        mt_app, mt_temporal, mt_queues, user, b"colour\r\nred\r\n", JobStatus.PENDING
    )
    # Cancelled before it began: ends cancelled.
    cancelled = await _direct(
        mt_app, mt_temporal, mt_queues, user, csv_bytes([]), JobStatus.CANCELLED
    )
    for upload_id, status in ((failed, "failed"), (cancelled, "cancelled")):
        done = await wait_finished(mt_api, user, upload_id)
        assert done["status"] == status
        assert await _listed(store, upload_id) == {"source.csv"}


async def test_the_scan_removes_job_files_no_job_needs(
    mt_app: FastAPI, mt_temporal: Client, mt_queues: str, store: ObjectStore, scratch_bucket: str
) -> None:
    bucket = scratch_bucket
    await make_bucket(store, bucket)
    now = datetime.now(UTC)

    def row(status: JobStatus, updated: datetime, report: bool = False) -> BulkUpload:
        upload_id = uuid.uuid4()
        return BulkUpload(
            id=upload_id,
            source_key=bulk_uploads.source_key(upload_id),
            error_report_key=bulk_uploads.report_key(upload_id) if report else None,
            status=status,
            updated_at=updated,
        )

    ended = row(JobStatus.COMPLETED, now, report=True)
    # Still running: wrote its progress while the scan ran.
    running = row(JobStatus.RUNNING, now + timedelta(minutes=5))
    silent = row(JobStatus.RUNNING, now - timedelta(days=2))  # its worker died long ago
    gone = uuid.uuid4()  # deleted with its organization
    export = Export()
    async with mt_app.state.sessionmaker() as session:
        session.add_all([ended, running, silent, export])
        await session.commit()
    planted = {
        ended.id: ["source.csv", "errors.csv", "plan-500.json", "images/000000.json"],
        running.id: ["source.csv", "plan-500.json", "images/000003.json"],
        silent.id: ["source.csv", "plan-500.json"],
        gone: ["source.csv", "errors.csv", "plan-500.json"],
    }
    for upload_id, names in planted.items():
        for name in names:
            await put(store, bucket, f"bulk-uploads/{upload_id}/{name}")
    export_keys = [f"exports/{export.id}/shots.zip", f"exports/{uuid.uuid4()}/shots.zip"]
    for key in export_keys:
        await put(store, bucket, key)

    async def scan(job_age: int) -> dict[str, int]:
        handle = await mt_temporal.start_workflow(
            OrphanScanWorkflow.run,
            OrphanScanInput(
                grace_seconds=NEVER,
                object_grace_seconds=NEVER,
                temp_max_age_seconds=NEVER,
                job_files_max_age_seconds=job_age,
                bucket=bucket,
            ),
            id=f"orphan-scan-test-{uuid.uuid4()}",
            task_queue=mt_queues + MAINTENANCE_QUEUE,
        )
        return (await handle.result()).counts

    # Younger than the age (the 24 h default): everything stays.
    fresh = await scan(DAY)
    assert fresh.get("job_files", 0) == 0 and fresh["kept_job_files"] == 14
    assert all([await _listed(store, str(i), bucket) == set(n) for i, n in planted.items()])

    counts = await scan(0)
    assert counts["job_files"] == 7 and counts["deleted"] == 7
    assert await _listed(store, str(ended.id), bucket) == {"source.csv", "errors.csv"}
    assert await _listed(store, str(running.id), bucket) == set(planted[running.id])
    assert await _listed(store, str(silent.id), bucket) == {"source.csv"}
    assert await _listed(store, str(gone), bucket) == set()
    assert await exists(store, bucket, export_keys[0])
    assert not await exists(store, bucket, export_keys[1])
