"""Worker SIGKILL at each activity boundary of GenerationWorkflow, ExportWorkflow and
BulkUploadWorkflow: every run completes once the worker is restarted, with no duplicate
rows, objects or events.

The worker is the production process (`worker.main`) with test-only interceptors
(tests/chaos/kill_worker.py): it SIGKILLs itself right after the body of the targeted
activity returned for a run, i.e. with its effects committed but its result not reported,
so Temporal runs the activity again in the restarted process. Each boundary gets
RUNS_PER_BOUNDARY runs; all runs of all three workflows share one supervised worker
process (a kill takes down every in-flight activity of the other runs too: more chaos,
and one restart recovers many runs). Everything else is real: Temporal, Postgres, Redis,
the object store and compute_sim.
"""

from __future__ import annotations

import asyncio
import csv
import io
import time
import uuid
import zipfile
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from fastapi import FastAPI
from sqlalchemy import func, select
from temporalio.client import Client, WorkflowHandle

from compute_sim import ComputeSimServer
from core import outbound
from core.config import Settings
from core.starts import (
    bulk_upload_workflow_id,
    start_bulk_upload,
    start_export,
    start_generation,
)
from core.storage import ObjectStore
from models.export_schemas import ExportCreate
from models.jobs import BulkUpload, BulkUploadRowError, Export
from models.media import MediaResource
from models.product import Product
from services import bulk_uploads, exports, images
from services.tenancy import Scope
from tests.chaos.conftest import ChaosReport
from tests.chaos.kill_support import (
    KillWorker,
    Receiver,
    entity_events,
    image_server,
    max_attempt,
    png,
    repeated,
    webhook_receiver,
)
from tests.exports.support import multipart_uploads, seed_approved_images
from tests.generation.support import (
    create_generation_row,
    make_sized_shot,
    outcome_counts,
    sim_tasks,
)
from tests.helpers import Api, UserHandle

RUNS_PER_BOUNDARY = 3
# Activity start-to-close/heartbeat cap in the kill worker: how long Temporal takes to
# notice an attempt lost with the process. Every activity here finishes far below it.
CAP_SECONDS = 15.0
# How long the first run to reach its boundary holds its result for others to arrive
# before the kill (less than the cap: a held attempt must not time out before the kill).
# Each kill costs every run a recovery, so the fewer kills the faster the scenario.
WINDOW_SECONDS = 8.0
WITHIN_SECONDS = 240.0

# An AGENTIC generation whose first try is good enough: it records the try and completes in
# two activities (a single-try generation does both in record_and_complete).
AGENTIC_ONE_TRY: dict[str, Any] = {
    "generation_type": "AGENTIC",
    "config": {"max_attempts": 1, "min_confidence_score": 0.5, "sim": {"score": 0.8}},
}
# Each activity of the success paths, with the request (compute_sim knobs) that makes it
# happen.
GENERATION_BOUNDARIES: dict[str, dict[str, Any]] = {
    "generation.mark_processing": {},
    "generation.submit_task": {},
    # No events at all: the status poll is what finds the task done.
    "generation.poll_task": {"config": {"sim": {"drop_events": True}}},
    # A long task with progress: the workflow records progress (from an event or, should
    # the event die with a killed bridge, from a status poll).
    "generation.record_progress": {"config": {"sim": {"latency_ms": 5000, "progress_steps": 4}}},
    "generation.fetch_result": {},
    "generation.store_outputs": {},
    "generation.record_and_complete": {},
    "generation.record_try": AGENTIC_ONE_TRY,
    "generation.complete": AGENTIC_ONE_TRY,
}
OUTPUTS = 2
# The zip target's activities, and the webhook target's own (one delivery per image, a
# progress report between the batches of DELIVERIES_IN_FLIGHT=4).
EXPORT_BOUNDARIES: dict[str, str] = {
    "export.plan": "zip",
    "export.build_zip": "zip",
    "export.cleanup": "zip",
    "export.finish": "zip",
    "export.deliver": "webhook",
    "export.record_progress": "webhook",
}
EXPORT_IMAGES = {"zip": 2, "webhook": 5}
WEBHOOK_SECRET = "chaos-webhook-secret"
BULK_BOUNDARIES = (
    "bulk_upload.plan",
    "bulk_upload.fetch_images",
    "bulk_upload.apply_chunk",
    "bulk_upload.finish",
)
BULK_ROWS, BULK_CHUNK_ROWS = 4, 2  # two chunks; the first names an image


@dataclass
class Run:
    workflow: str
    boundary: str
    entity_id: str
    org: str
    handle: WorkflowHandle
    facts: dict[str, Any] = field(default_factory=dict)


@dataclass
class Verdict:
    completed: bool
    duplicates: int = 0
    lost: int = 0
    problems: list[str] = field(default_factory=list)

    def expect(self, what: str, actual: int, expected: int) -> None:
        """Above the expected count is duplicates, below it is loss."""
        if actual > expected:
            self.duplicates += actual - expected
            self.problems.append(f"{what}: {actual} > {expected}")
        elif actual < expected:
            self.lost += expected - actual
            self.problems.append(f"{what}: {actual} < {expected}")


# -- starting the runs ----------------------------------------------------------------------


async def _generation_runs(
    api: Api, app: FastAPI, temporal: Client, user: UserHandle, worker: KillWorker, prefix: str
) -> list[Run]:
    org = user.orgs[0]
    runs = []
    for boundary, request in GENERATION_BOUNDARIES.items():
        for _ in range(RUNS_PER_BOUNDARY):
            world = await make_sized_shot(api, user, width=64, height=80)
            row = await create_generation_row(
                app, user, org, world["shot_ids"][0], batch_size=OUTPUTS, **request
            )
            gid = str(row["id"])
            worker.target(f"generation-{gid}", boundary)
            handle = await start_generation(
                temporal,
                generation_id=uuid.UUID(gid),
                organization_id=uuid.UUID(org),
                owner_id=uuid.UUID(user.id),
                shooting_id=uuid.UUID(str(row["shooting_id"])),
                task_queue_prefix=prefix,
            )
            runs.append(Run("GenerationWorkflow", boundary, gid, org, handle))
    return runs


async def _export_runs(
    api: Api,
    app: FastAPI,
    temporal: Client,
    user: UserHandle,
    worker: KillWorker,
    prefix: str,
    receiver: Receiver,
) -> list[Run]:
    org = user.orgs[0]
    scope = Scope(user_id=uuid.UUID(user.id), organization_id=uuid.UUID(org), role=None)
    runs = []
    for boundary, target in EXPORT_BOUNDARIES.items():
        for _ in range(RUNS_PER_BOUNDARY):
            total = EXPORT_IMAGES[target]
            world = await seed_approved_images(app, api, user, count=total, size=(64, 80))
            body: dict[str, Any] = {"shooting_id": world["shooting"]["id"], "target": target}
            if target == "webhook":
                body |= {"webhook_url": receiver.url, "webhook_secret": WEBHOOK_SECRET}
            async with app.state.sessionmaker() as session:
                export = await exports.create(
                    session,
                    scope,
                    ExportCreate.model_validate(body),
                    allow=outbound.allow_list(app.state.settings),  # the receiver's 127.0.0.1
                )
                await session.commit()
            worker.target(f"export-{export.id}", boundary)
            handle = await start_export(
                temporal,
                export_id=export.id,
                organization_id=export.organization_id,
                owner_id=export.owner_id,
                shooting_id=export.shooting_id,
                task_queue_prefix=prefix,
                heartbeat_timeout_seconds=int(CAP_SECONDS),
            )
            runs.append(
                Run("ExportWorkflow", boundary, str(export.id), org, handle, {"total": total})
            )
    return runs


async def _bulk_runs(
    app: FastAPI,
    temporal: Client,
    user: UserHandle,
    worker: KillWorker,
    prefix: str,
    images_url: str,
) -> list[Run]:
    org = user.orgs[0]
    store: ObjectStore = app.state.store
    runs = []
    for boundary in BULK_BOUNDARIES:
        for _ in range(RUNS_PER_BOUNDARY):
            upload_id = uuid.uuid4()
            seed = int(upload_id.hex[:6], 16)  # an image of its own: its media row is countable
            skus = [f"K{upload_id.hex[:8]}-{n}" for n in range(BULK_ROWS)]
            out = io.StringIO()
            writer = csv.writer(out, lineterminator="\r\n")
            writer.writerow(("sku", "name", "cover_image_url"))
            for n, sku in enumerate(skus):
                # Only the first chunk names the image (twice: fetched and stored once).
                url = f"{images_url}/img/{seed}.png" if n < BULK_CHUNK_ROWS else ""
                writer.writerow((sku, f"Product {n}", url))
            source = bulk_uploads.source_key(upload_id)
            await asyncio.to_thread(store.put, source, out.getvalue().encode())
            async with app.state.sessionmaker() as session:
                session.add(
                    BulkUpload(
                        id=upload_id,
                        organization_id=uuid.UUID(org),
                        owner_id=uuid.UUID(user.id),
                        filename="chaos.csv",
                        source_key=source,
                        workflow_id=bulk_upload_workflow_id(upload_id),
                    )
                )
                await session.commit()
            worker.target(bulk_upload_workflow_id(upload_id), boundary)
            handle = await start_bulk_upload(
                temporal,
                upload_id=upload_id,
                organization_id=uuid.UUID(org),
                owner_id=uuid.UUID(user.id),
                task_queue_prefix=prefix,
                chunk_rows=BULK_CHUNK_ROWS,
            )
            facts = {"skus": skus, "image_hash": images.md5_hex(png(seed))}
            runs.append(Run("BulkUploadWorkflow", boundary, str(upload_id), org, handle, facts))
    return runs


# -- checking each run ----------------------------------------------------------------------


def _keys(store: ObjectStore, prefix: str) -> list[str]:
    page = store.client.list_objects_v2(Bucket=store.bucket, Prefix=prefix)
    return [o["Key"] for o in page.get("Contents", [])]


async def _check_generation(run: Run, app: FastAPI, sim: ComputeSimServer) -> Verdict:
    verdict = Verdict(completed=run.facts["result"] == "completed")
    counts = await outcome_counts(app, run.entity_id)
    verdict.expect("predictions", counts["predictions"], OUTPUTS)
    verdict.expect("distinct outputs", counts["distinct_hashes"], OUTPUTS)
    verdict.expect("media rows", counts["media_rows"], OUTPUTS)
    verdict.expect("shot revisions", counts["revisions"], 1)
    verdict.expect("compute tasks", len(sim_tasks(sim, run.entity_id, "generation")), 1)
    store: ObjectStore = app.state.store
    for media_id in counts["media_ids"]:
        objects = await asyncio.to_thread(_keys, store, f"media/{media_id}/")
        verdict.expect(f"objects of media {media_id}", len(objects), 1)
    messages = await entity_events(app.state.redis, run.org, "generation.", run.entity_id)
    completed = [m for m in messages if m["type"] == "generation.completed"]
    verdict.expect("generation.completed events", len(completed), 1)
    verdict.expect("repeated generation events", repeated(messages), 0)
    return verdict


async def _check_export(run: Run, app: FastAPI, receiver: Receiver) -> Verdict:
    outcome = run.facts["result"]
    verdict = Verdict(completed=getattr(outcome, "status", None) == "completed")
    total = run.facts["total"]
    store: ObjectStore = app.state.store
    async with app.state.sessionmaker() as session:
        export = await session.get(Export, uuid.UUID(run.entity_id))
    assert export is not None
    verdict.expect("exported images", export.processed_images or 0, total)
    verdict.expect("failed images", export.failed_images or 0, 0)
    keys = set(await asyncio.to_thread(_keys, store, f"exports/{run.entity_id}/"))
    plan = f"exports/{run.entity_id}/plan.json"
    verdict.expect("plan objects", len(keys & {plan}), 1)
    archives = keys - {plan}
    verdict.expect("unfinished uploads", len(multipart_uploads(store, run.entity_id)), 0)
    if EXPORT_BOUNDARIES[run.boundary] == "zip":
        verdict.expect("archives", len(archives), 1)
        if export.result_key not in archives:
            verdict.lost += 1
            verdict.problems.append(f"result {export.result_key} not among {archives}")
        else:
            data = await asyncio.to_thread(store.get, export.result_key)
            names = zipfile.ZipFile(io.BytesIO(data)).namelist()
            verdict.expect("archive entries", len(names), total + 1)  # + manifest.csv
            verdict.expect("repeated entries", len(names) - len(set(names)), 0)
    else:
        verdict.expect("objects besides the plan", len(archives), 0)
        posts = receiver.for_export(run.entity_id)
        verdict.expect("images delivered", len(posts), total)
        # The webhook is at least once by design: a delivery whose result was lost with the
        # process is POSTed again under the same X-Sartiq-Delivery id (receivers dedupe on
        # it). Counted for the report, not as a duplicate; a second id would be one.
        run.facts["redeliveries"] = sum(posts.values()) - len(posts)
    messages = await entity_events(app.state.redis, run.org, "export.", run.entity_id)
    completed = [m for m in messages if m["type"] == "export.completed"]
    verdict.expect("export.completed events", len(completed), 1)
    verdict.expect("repeated export events", repeated(messages), 0)
    return verdict


async def _check_bulk(run: Run, app: FastAPI) -> Verdict:
    result = run.facts["result"]
    verdict = Verdict(completed=getattr(result, "status", None) == "completed")
    upload_id = uuid.UUID(run.entity_id)
    org = uuid.UUID(run.org)
    async with app.state.sessionmaker() as session:
        upload = await session.get(BulkUpload, upload_id)
        assert upload is not None
        skus = list(
            await session.scalars(
                select(Product.sku).where(
                    Product.organization_id == org, Product.sku.in_(run.facts["skus"])
                )
            )
        )
        media_rows = await session.scalar(
            select(func.count())
            .select_from(MediaResource)
            .where(
                MediaResource.organization_id == org,
                MediaResource.content_hash == run.facts["image_hash"],
            )
        )
        row_errors = await session.scalar(
            select(func.count())
            .select_from(BulkUploadRowError)
            .where(BulkUploadRowError.bulk_upload_id == upload_id)
        )
    verdict.completed = verdict.completed and upload.status.value == "completed"
    verdict.expect("product rows", len(skus), BULK_ROWS)
    verdict.expect("distinct SKUs", len(set(skus)), BULK_ROWS)
    verdict.expect("processed rows", upload.processed_rows, BULK_ROWS)
    verdict.expect("created count", upload.created_count, BULK_ROWS)
    verdict.expect("updated count", upload.updated_count, 0)
    verdict.expect("failed count", upload.failed_count, 0)
    verdict.expect("row errors", row_errors or 0, 0)
    verdict.expect("image media rows", media_rows or 0, 1)
    messages = await entity_events(app.state.redis, run.org, "bulk_upload.", run.entity_id)
    completed = [m for m in messages if m["type"] == "bulk_upload.completed"]
    verdict.expect("bulk_upload.completed events", len(completed), 1)
    verdict.expect("repeated bulk_upload events", repeated(messages), 0)
    return verdict


async def _result(handle: WorkflowHandle) -> Any:
    """The run's result, or the exception it ended with (a failed run is recorded too)."""
    try:
        return await handle.result()
    except Exception as error:  # recorded as not completed
        return error


# -- the scenario -----------------------------------------------------------------------------


@pytest.mark.timeout(WITHIN_SECONDS + 180)
async def test_worker_sigkill_at_each_activity_boundary(
    api: Api,
    app: FastAPI,
    sim: ComputeSimServer,
    gen_settings: Settings,
    temporal: Client,
    chaos_report: ChaosReport,
    tmp_path: Path,
) -> None:
    began = time.monotonic()
    prefix = f"chaos-kill-{uuid.uuid4().hex[:8]}-"
    worker = KillWorker(
        gen_settings,
        prefix,
        tmp_path / "kill",
        cap_seconds=CAP_SECONDS,
        window_seconds=WINDOW_SECONDS,
    )
    worker.start()  # boots while the runs are prepared
    supervisor = asyncio.create_task(worker.supervise())
    try:
        with image_server() as images_url, webhook_receiver(WEBHOOK_SECRET) as receiver:
            # A user (and organization) per workflow: each org's event stream stays short.
            gen_user, export_user, bulk_user = [await api.new_user() for _ in range(3)]
            runs = [
                *await _generation_runs(api, app, temporal, gen_user, worker, prefix),
                *await _export_runs(api, app, temporal, export_user, worker, prefix, receiver),
                *await _bulk_runs(app, temporal, bulk_user, worker, prefix, images_url),
            ]
            waits = [asyncio.create_task(_result(run.handle)) for run in runs]
            await asyncio.wait(waits, timeout=WITHIN_SECONDS)
            for run, waiting in zip(runs, waits, strict=True):
                # A run still open is recorded as not completed.
                run.facts["result"] = waiting.result() if waiting.done() else "still running"
                waiting.cancel()
                run.facts["attempts"] = await max_attempt(run.handle, run.boundary)
            checks: dict[str, Callable[[Run], Awaitable[Verdict]]] = {
                "GenerationWorkflow": lambda r: _check_generation(r, app, sim),
                "ExportWorkflow": lambda r: _check_export(r, app, receiver),
                "BulkUploadWorkflow": lambda r: _check_bulk(r, app),
            }
            verdicts = [await checks[run.workflow](run) for run in runs]
            bad_signatures, truncated = receiver.bad_signatures, receiver.truncated
    finally:
        supervisor.cancel()
        await asyncio.gather(supervisor, return_exceptions=True)
        worker.stop()

    # One row per boundary, recorded before anything is asserted.
    boundaries = list(dict.fromkeys((run.workflow, run.boundary) for run in runs))
    for wf, boundary in boundaries:
        group = [(r, v) for r, v in zip(runs, verdicts, strict=True) if r.boundary == boundary]
        chaos_report.record(
            f"worker SIGKILL after {wf}.{boundary.split('.', 1)[1]}",
            runs=len(group),
            completed=sum(v.completed for _, v in group),
            duplicates=sum(v.duplicates for _, v in group),
            lost=sum(v.lost + (not v.completed) for _, v in group),
        )
    redeliveries = sum(run.facts.get("redeliveries", 0) for run in runs)
    print(
        f"\nworker SIGKILL: {len(runs)} runs over {len(boundaries)} boundaries, "
        f"{worker.kills} kills, {worker.starts} worker starts, {redeliveries} webhook "
        f"redeliveries (same delivery id), {truncated} webhook POSTs cut by a kill, "
        f"{time.monotonic() - began:.0f}s"
    )

    assert worker.crashes == [], f"worker exited other than by our SIGKILL: {worker.crashes}"
    assert bad_signatures == 0
    problems = {
        f"{run.boundary} {run.entity_id}": (run.facts["result"], verdict.problems)
        for run, verdict in zip(runs, verdicts, strict=True)
        if not verdict.completed or verdict.problems
    }
    assert problems == {}, f"{problems}\n{worker.log_tail()}"
    # The scenario really happened: every run had its kill at its boundary, and Temporal ran
    # that activity again (the attempt whose result died with the process did not count).
    missed = [
        f"{run.boundary} {run.entity_id}"
        for run in runs
        if not worker.killed(run.handle.id, run.boundary) or run.facts["attempts"] < 2
    ]
    assert missed == [], f"no kill at the boundary for: {missed}"
    assert worker.kills >= 1
