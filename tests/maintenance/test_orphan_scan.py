"""OrphanScanWorkflow on the real database, bucket and Temporal.

Each test scans a bucket of its own, so the objects it plants are all the scan sees. Rows
are global: the planted ones are backdated two days and scanned with a one-day grace, so
rows of other tests (all younger) are never candidates. S3 LastModified cannot be
backdated, so objects are "old" with an object grace of 0 s and "fresh" with one of an hour.
"""

from __future__ import annotations

import uuid
from datetime import timedelta

from fastapi import FastAPI
from sqlalchemy import select
from temporalio.client import Client, WorkflowExecutionStatus, WorkflowHandle

from core.storage import ObjectStore
from core.temporal import MAINTENANCE_QUEUE
from models.jobs import MaintenanceReport
from tests.helpers import Api, UserHandle
from tests.maintenance.support import (
    add_media,
    attach,
    eventually,
    exists,
    make_bucket,
    put,
    remove_media,
    row_exists,
)
from tests.workflows.conftest import record_history
from workflows.maintenance_types import OrphanScanInput, OrphanScanResult
from workflows.media_cleanup import OrphanScanWorkflow

DAY = 86_400
OLD = timedelta(days=2)


async def _scan(
    client: Client, queues: str, data: OrphanScanInput
) -> tuple[WorkflowHandle, OrphanScanResult]:
    handle = await client.start_workflow(
        OrphanScanWorkflow.run,
        data,
        id=f"orphan-scan-test-{uuid.uuid4()}",
        task_queue=queues + MAINTENANCE_QUEUE,
    )
    return handle, await handle.result()


async def _report(app: FastAPI, report_id: str) -> MaintenanceReport:
    async with app.state.sessionmaker() as session:
        report = await session.scalar(
            select(MaintenanceReport).where(MaintenanceReport.id == uuid.UUID(report_id))
        )
        assert report is not None
        return report


async def test_scan_deletes_exactly_the_orphans(
    mt_temporal: Client, mt_queues: str, mt_app: FastAPI, store: ObjectStore, scratch_bucket: str
) -> None:
    bucket = scratch_bucket
    await make_bucket(store, bucket)
    orphan = await add_media(mt_app, age=OLD)
    protected = await add_media(mt_app, age=OLD, protected=True)
    attached = await add_media(mt_app, age=OLD)
    await attach(mt_app, attached.id)
    fresh = await add_media(mt_app)  # unattached, but inside the grace period
    for media in (orphan, protected, attached, fresh):
        await put(store, bucket, media.storage_key)
    stray = f"media/{uuid.uuid4()}/file.png"  # an object with no row
    temp = f"temp/{uuid.uuid4().hex}_1700000000_upload.jpg"
    unrelated = f"exports/{uuid.uuid4()}/bundle.zip"
    for key in (stray, temp, unrelated):
        await put(store, bucket, key)
    scan = OrphanScanInput(
        grace_seconds=DAY, object_grace_seconds=0, temp_max_age_seconds=0, bucket=bucket
    )
    try:
        # Dry run: counts what it would delete, deletes nothing.
        _, dry = await _scan(
            mt_temporal, mt_queues, OrphanScanInput(**{**vars(scan), "dry_run": True})
        )
        assert dry.counts["orphan_rows"] == 1
        assert dry.counts["skipped_protected"] == 1
        assert dry.counts["orphan_objects"] == 1
        assert dry.counts["temp_objects"] == 1
        assert dry.counts.get("deleted", 0) == 0
        for media in (orphan, protected, attached, fresh):
            assert await row_exists(mt_app, media.id)
            assert await exists(store, bucket, media.storage_key)
        for key in (stray, temp):
            assert await exists(store, bucket, key)
        report = await _report(mt_app, dry.report_id)
        assert report.kind == "orphan_scan" and report.dry_run and report.status == "completed"

        handle, real = await _scan(mt_temporal, mt_queues, scan)
        await record_history(handle, "orphan_scan")
        assert real.counts["orphan_rows"] == 1
        assert real.counts["orphan_objects"] == 1
        assert real.counts["temp_objects"] == 1
        assert real.counts["deleted"] == 3
        assert real.counts.get("errors", 0) == 0
        assert not await row_exists(mt_app, orphan.id)
        assert not await exists(store, bucket, orphan.storage_key)
        assert not await exists(store, bucket, stray)
        assert not await exists(store, bucket, temp)
        for media in (protected, attached, fresh):
            assert await row_exists(mt_app, media.id)
            assert await exists(store, bucket, media.storage_key)
        assert await exists(store, bucket, unrelated)
        report = await _report(mt_app, real.report_id)
        assert not report.dry_run and report.counts == real.counts
        assert report.completed_at is not None and report.workflow_id

        # Fresh objects (younger than the grace and the temp TTL) are left alone.
        new_stray = f"media/{uuid.uuid4()}/file.jpg"
        new_temp = f"temp/{uuid.uuid4().hex}_1700000000_new.jpg"
        await put(store, bucket, new_stray)
        await put(store, bucket, new_temp)
        _, later = await _scan(
            mt_temporal,
            mt_queues,
            OrphanScanInput(
                grace_seconds=DAY,
                object_grace_seconds=3600,
                temp_max_age_seconds=3600,
                bucket=bucket,
            ),
        )
        assert later.counts.get("deleted", 0) == 0
        assert later.counts["skipped_fresh"] == 2
        assert await exists(store, bucket, new_stray) and await exists(store, bucket, new_temp)
    finally:
        await remove_media(mt_app, protected.id, attached.id, fresh.id, orphan.id)


async def test_scan_pages_and_continues_as_new(
    mt_temporal: Client, mt_queues: str, mt_app: FastAPI, store: ObjectStore, scratch_bucket: str
) -> None:
    bucket = scratch_bucket
    await make_bucket(store, bucket)
    rows = [await add_media(mt_app, age=OLD) for _ in range(5)]
    for media in rows:
        await put(store, bucket, media.storage_key)
    strays = [f"media/{uuid.uuid4()}/file.jpg" for _ in range(7)]
    temps = [f"temp/{uuid.uuid4().hex}_1700000000_{i}.jpg" for i in range(3)]
    for key in strays + temps:
        await put(store, bucket, key)

    handle, result = await _scan(
        mt_temporal,
        mt_queues,
        OrphanScanInput(
            grace_seconds=DAY,
            object_grace_seconds=0,
            temp_max_age_seconds=0,
            bucket=bucket,
            page_size=2,
            pages_per_run=2,  # force continue-as-new every two pages
        ),
    )
    assert result.counts["orphan_rows"] == 5
    assert result.counts["orphan_objects"] == 7 and result.counts["temp_objects"] == 3
    assert result.counts["deleted"] == 15
    assert result.runs >= 5  # 3 + 4 + 2 pages (+ an empty last one) at 2 pages a run
    for key in strays + temps + [m.storage_key for m in rows]:
        assert not await exists(store, bucket, key)
    for media in rows:
        assert not await row_exists(mt_app, media.id)

    first_run = mt_temporal.get_workflow_handle(handle.id, run_id=handle.result_run_id)
    assert (await first_run.describe()).status == WorkflowExecutionStatus.CONTINUED_AS_NEW
    await record_history(first_run, "orphan_scan_continued_as_new")
    latest = mt_temporal.get_workflow_handle(handle.id)
    assert (await latest.describe()).status == WorkflowExecutionStatus.COMPLETED


async def test_admin_starts_a_dry_run_and_lists_reports(
    mt_api: Api, mt_app: FastAPI, superuser: UserHandle, user: UserHandle
) -> None:
    assert (await mt_api.post("/admin/maintenance/orphan-scan", as_=user)).status_code == 403
    r = await mt_api.post(
        "/admin/maintenance/orphan-scan", as_=superuser, params={"dry_run": "true"}
    )
    assert r.status_code == 202, r.text
    started = r.json()
    assert started["dry_run"] is True and started["workflow_id"].startswith("orphan-scan-")

    async def finished() -> dict | None:
        r = await mt_api.get(
            "/admin/maintenance/reports", as_=superuser, params={"kind": "orphan_scan"}
        )
        assert r.status_code == 200, r.text
        for report in r.json()["data"]:
            if report["workflow_id"] == started["workflow_id"] and report["status"] == "completed":
                return report
        return None

    report = await eventually(finished, within=60, what="the dry-run report")
    assert report["dry_run"] is True
    assert report["counts"].get("deleted", 0) == 0
