"""Side effects of BulkUploadWorkflow: read the CSV from the bucket, fetch and ingest
images, upsert products, record row errors, write the error report, publish events.

Each activity reads only what its input names (the plan's key and a chunk number), so the
workflow's history holds keys and counts, never rows. All of them are idempotent: the plan
and the image manifests are rewritten identically, images are content-addressed, the chunk
transaction applies a chunk once (services/bulk_uploads.py), and events carry dedupe keys.
"""

from __future__ import annotations

import asyncio
import threading
import uuid
from collections import OrderedDict
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from datetime import UTC, datetime, timedelta

from botocore.exceptions import BotoCoreError, ClientError
from temporalio import activity
from temporalio.exceptions import ApplicationError, CancelledError

from activities import media_cleanup, permanent
from activities.clients import Clients
from core import events, outbound
from core.db import session_scope
from core.temporal import ui_url
from models.jobs import BulkUpload, JobStatus
from services import (
    bulk_upload_chunks,
    bulk_upload_files,
    bulk_uploads,
    csv_rows,
    ingest,
    job_files,
    remote_images,
)
from services import media as media_service
from services.errors import BadRequest
from workflows.bulk_upload_types import (
    ApplyChunkInput,
    ChunkResult,
    FetchImagesInput,
    FinishInput,
    PlanInput,
    PlanResult,
)

ChunkRows = list[csv_rows.ProductRow | csv_rows.RowError]


class BulkUploadActivities:
    """Built once per worker with its clients."""

    def __init__(self, clients: Clients) -> None:
        self.clients = clients
        self.store = clients.store
        self._plans: OrderedDict[str, bulk_upload_files.StoredPlan] = OrderedDict()
        self._plans_lock = threading.Lock()  # chunk activities run in several threads

    # -- events ------------------------------------------------------------------------

    async def _announce(self, upload: BulkUpload, kind: str) -> None:
        payload = bulk_uploads.public(upload, ui_url=lambda wid: ui_url(self.clients.settings, wid))
        await events.publish(
            self.clients.redis,
            type=f"bulk_upload.{kind}",
            payload=payload.model_dump(mode="json"),
            organization_id=upload.organization_id,
            user_id=upload.owner_id,
            dedupe_key=f"bulk_upload:{upload.id}:{kind}:{upload.status.value}:"
            f"{upload.processed_rows}",
        )

    # -- the plan ------------------------------------------------------------------------

    @activity.defn(name="bulk_upload.plan")
    async def plan(self, data: PlanInput) -> PlanResult:
        """Mark the upload running, read the whole CSV once (row count, chunk byte ranges,
        duplicate SKUs) and store the plan; a file that cannot be read fails for good."""
        upload_id = uuid.UUID(data.bulk_upload_id)
        with permanent.row_must_exist():  # a deleted upload ends its run at once
            async with session_scope(self.clients.sessionmaker) as session:
                upload = await bulk_uploads.start_running(session, upload_id)
        if upload.status != JobStatus.RUNNING:
            return PlanResult(status=upload.status.value)
        try:
            plan = await asyncio.to_thread(
                lambda: csv_rows.plan_file(
                    bulk_uploads.stream(self.store, upload.source_key),
                    chunk_rows=data.chunk_rows,
                    max_rows=self.clients.settings.BULK_UPLOAD_MAX_ROWS,
                )
            )
        except csv_rows.CsvFileError as error:
            raise ApplicationError(str(error), type="CsvFileError", non_retryable=True) from error
        except ClientError as error:
            if error.response.get("Error", {}).get("Code") not in ("NoSuchKey", "404"):
                raise
            raise ApplicationError(
                "The uploaded CSV is no longer in the store", non_retryable=True
            ) from error
        key = bulk_uploads.plan_key(upload_id, data.chunk_rows)
        body = bulk_upload_files.plan_json(
            plan,
            source=upload.source_key,
            organization_id=upload.organization_id,
            owner_id=upload.owner_id,
        )
        await asyncio.to_thread(self.store.put, key, body, content_type="application/json")
        async with session_scope(self.clients.sessionmaker) as session:
            upload = await bulk_uploads.set_total(session, upload_id, plan.total_rows)
        await self._announce(upload, "progress")
        deadline = self.clients.settings.BULK_UPLOAD_DEADLINE_SECONDS
        return PlanResult(
            status=JobStatus.RUNNING.value,
            plan_key=key,
            total_rows=plan.total_rows,
            chunk_count=len(plan.chunks),
            image_chunks=[c.index for c in plan.chunks if c.has_images],
            # Fixed from when the upload started running: a retried plan keeps it.
            deadline_at=(upload.started_at or datetime.now(UTC)) + timedelta(seconds=deadline),
            deadline_seconds=deadline,
        )

    def _plan(self, key: str) -> bulk_upload_files.StoredPlan:
        """The stored plan (blocking), cached: every chunk of an upload reads the same one."""
        with self._plans_lock:
            cached = self._plans.get(key)
            if cached is not None:
                self._plans.move_to_end(key)
                return cached
        what = "bulk upload plan"
        plan = permanent.parsed(
            bulk_upload_files.load_plan, permanent.stored(self.store, key, what), what
        )
        with self._plans_lock:
            self._plans[key] = plan
            while len(self._plans) > self.clients.settings.BULK_UPLOAD_PLAN_CACHE_SIZE:
                self._plans.popitem(last=False)
        return plan

    def _rows(self, key: str, index: int) -> tuple[csv_rows.ChunkPlan, ChunkRows]:
        """A chunk's rows, validated, duplicates marked (blocking: a ranged GET)."""
        plan = self._plan(key)
        if not 0 <= index < len(plan.chunks):
            raise ApplicationError(
                f"chunk {index} is not in the plan", type="InvalidStoredFile", non_retryable=True
            )
        chunk = plan.chunks[index]
        try:
            data = bulk_uploads.read_range(self.store, plan.source_key, chunk.start, chunk.end)
        except ClientError as error:
            if not permanent.is_missing(error):
                raise
            raise ApplicationError(
                "The uploaded CSV is no longer in the store", non_retryable=True
            ) from error
        rows: ChunkRows = []
        for row_number, fields in csv_rows.chunk_records(data, chunk):
            row = csv_rows.validate_row(plan.header, fields, row_number)
            if isinstance(row, csv_rows.ProductRow) and row.row_number in chunk.duplicates:
                row = bulk_upload_chunks.duplicate_error(row, chunk.duplicates[row.row_number])
            rows.append(row)
        return chunk, rows

    # -- images (sync: httpx, Pillow and boto3 in the worker's thread pool) -------------------

    @activity.defn(name="bulk_upload.fetch_images")
    def fetch_images(self, data: FetchImagesInput) -> str | None:
        """Fetch and store every image the chunk's valid rows name (each URL once) and write
        the outcome per URL as a manifest; returns its key (None: no image to fetch)."""
        plan = self._plan(data.plan_key)
        _chunk, rows = self._rows(data.plan_key, data.chunk)
        urls = list(
            dict.fromkeys(
                url
                for row in rows
                if isinstance(row, csv_rows.ProductRow)
                for url in row.image_urls().values()
            )
        )
        if not urls:
            return None
        results: dict[str, media_service.StoredFile | str] = {}
        http = outbound.OutboundClient(
            outbound.allow_list(self.clients.settings), user_agent=remote_images.USER_AGENT
        )
        pool = ThreadPoolExecutor(
            self.clients.settings.BULK_UPLOAD_IMAGE_FETCH_CONCURRENCY, thread_name_prefix="bulk-img"
        )
        try:
            pending: dict[Future[media_service.StoredFile | str], str] = {
                pool.submit(self._ingest_url, http, url, plan): url for url in urls
            }
            while pending:
                done, _ = wait(pending, timeout=5, return_when=FIRST_COMPLETED)
                for future in done:
                    results[pending.pop(future)] = future.result()
                activity.heartbeat(len(results))  # raises CancelledError once cancelled
                if activity.is_cancelled():
                    raise CancelledError("bulk upload image fetch cancelled")
        finally:
            # On cancel or error, don't wait for the downloads in flight: queued ones are
            # dropped, running ones end soon on the closed client.
            pool.shutdown(wait=False, cancel_futures=True)
            http.close()
        key = bulk_uploads.images_key(data.bulk_upload_id, data.chunk)
        self.store.put(
            key, bulk_upload_files.manifest_json(results), content_type="application/json"
        )
        return key

    def _ingest_url(
        self,
        http: outbound.OutboundClient,
        url: str,
        plan: bulk_upload_files.StoredPlan,
    ) -> media_service.StoredFile | str:
        """The stored image, or why the URL gives none (a row error, not a failure)."""
        max_bytes = self.clients.settings.BULK_UPLOAD_MAX_IMAGE_BYTES
        try:
            content = remote_images.fetch_image(http, url, max_bytes=max_bytes)
            return ingest.store_image(
                self.store,
                content,
                organization_id=plan.organization_id,
                owner_id=plan.owner_id,
                max_bytes=max_bytes,
            )
        except outbound.OutboundError as error:
            return error.message
        except BadRequest as error:
            return str(error.detail)

    # -- one chunk -------------------------------------------------------------------------

    @activity.defn(name="bulk_upload.apply_chunk")
    async def apply_chunk(self, data: ApplyChunkInput) -> ChunkResult:
        """Upsert the chunk's products in one transaction with its row errors and counts."""
        chunk, rows = await asyncio.to_thread(self._rows, data.plan_key, data.chunk)
        what = "image manifest"
        manifest = (
            await asyncio.to_thread(
                lambda: permanent.parsed(
                    bulk_upload_files.load_manifest,
                    permanent.stored(self.store, data.images_key or "", what),
                    what,
                )
            )
            if data.images_key
            else {}
        )
        ready: list[bulk_upload_chunks.ReadyRow] = []
        errors: list[csv_rows.RowError] = []
        for row in rows:
            if isinstance(row, csv_rows.RowError):
                errors.append(row)
                continue
            outcome = _with_images(row, manifest)
            (errors if isinstance(outcome, csv_rows.RowError) else ready).append(outcome)  # type: ignore[arg-type]
        try:
            with permanent.row_must_exist():
                async with session_scope(self.clients.sessionmaker) as session:
                    result = await bulk_upload_chunks.apply_chunk(
                        session,
                        uuid.UUID(data.bulk_upload_id),
                        rows_before=chunk.rows_before,
                        rows=chunk.rows,
                        ready=ready,
                        errors=errors,
                    )
        except bulk_upload_chunks.ChunkOutOfOrder as error:
            raise ApplicationError(
                str(error), type="ChunkOutOfOrder", non_retryable=True
            ) from error
        upload = result.upload
        if result.applied and data.announce:
            await self._announce(upload, "progress")
        return ChunkResult(
            processed=upload.processed_rows,
            created=upload.created_count,
            updated=upload.updated_count,
            failed=upload.failed_count,
            stopped=result.stopped,
        )

    # -- the end ---------------------------------------------------------------------------

    @activity.defn(name="bulk_upload.finish")
    async def finish(self, data: FinishInput) -> str:
        """Write the error report, set the final status, announce it; returns the status.
        The job row stays locked throughout, so no chunk commits between report and end."""
        upload_id = uuid.UUID(data.bulk_upload_id)
        with permanent.row_must_exist():
            upload = await self._finish(upload_id, data)
        await self._remove_working_files(upload)
        # Announced even when an earlier attempt finished it (the dedupe key makes it once).
        kind = "failed" if upload.status == JobStatus.FAILED else "completed"
        await self._announce(upload, kind)
        return upload.status.value

    async def _finish(self, upload_id: uuid.UUID, data: FinishInput) -> BulkUpload:
        async with session_scope(self.clients.sessionmaker) as session:
            upload = await bulk_uploads.lock(session, upload_id)
            key = None
            if upload.completed_at is None:
                report = await bulk_uploads.error_report(session, upload_id)
                if report is not None:
                    key = bulk_uploads.report_key(upload_id)
                    await asyncio.to_thread(self.store.put, key, report, content_type="text/csv")
            upload, _ = await bulk_uploads.finish(
                session,
                upload_id,
                status=JobStatus(data.status),
                error_message=data.error_message,
                report=key,
            )
        return upload

    async def _remove_working_files(self, upload: BulkUpload) -> None:
        """The plan and image manifests only serve the run: gone once it has ended (the
        source CSV and the error report stay with the row). A failure here does not hold
        up the end: the orphan scan removes what is left after JOB_FILES_MAX_AGE_HOURS."""
        try:
            keys = await asyncio.to_thread(job_files.bulk_working_files, self.store, upload)
            errors = await asyncio.to_thread(
                media_cleanup.delete_keys, self.store.client, self.store.bucket, keys
            )
        except (BotoCoreError, ClientError) as error:
            errors = {"*": str(error)}
        if errors:
            activity.logger.warning("bulk upload %s working files left: %s", upload.id, errors)


def _with_images(
    row: csv_rows.ProductRow, manifest: dict[str, media_service.StoredFile | str]
) -> bulk_upload_chunks.ReadyRow | csv_rows.RowError:
    images: dict[str, media_service.StoredFile] = {}
    for slot, url in row.image_urls().items():
        column = f"{slot}_url"
        result = manifest.get(url, "image was not fetched")
        if isinstance(result, str):
            return csv_rows.RowError(row.row_number, row.sku, column, f"{column}: {result}")
        images[slot] = result
    return bulk_upload_chunks.ReadyRow(row=row, images=images)
