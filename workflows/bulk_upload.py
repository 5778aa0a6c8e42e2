"""BulkUploadWorkflow: a CSV of products in the bucket → products upserted by (scope, SKU).

plan (row count, chunk byte ranges, duplicate SKUs; stored in the bucket) → for each chunk,
in order: fetch and ingest its images (only chunks that name some) → apply it (one
transaction: products, attachments, row errors, counts) → finish (error report, final
status, event). The history holds the plan's key and a cursor; the run continues as new
when the server suggests it, so a 100k-row file stays far from the history limits.

Deadline: the plan fixes it (BULK_UPLOAD_DEADLINE_SECONDS from when the upload started
running) and the cursor carries it across runs; it bounds every image fetch and chunk, and
past it the upload ends `failed` naming it, keeping the chunks applied so far (each one is
a whole transaction, so nothing is half-written).

Cancel: the API marks the row cancelled and signals `cancel`; the in-flight image fetch is
cancelled, a chunk transaction that comes after the mark applies nothing, and the rows
applied so far stay. A cancellation from Temporal itself ends the same way.
"""

from __future__ import annotations

import asyncio
import contextlib
from dataclasses import replace
from datetime import timedelta

from temporalio import workflow
from temporalio.exceptions import ActivityError, ApplicationError, CancelledError

with workflow.unsafe.imports_passed_through():
    from activities.bulk_upload import BulkUploadActivities
    from workflows.bulk_upload_types import (
        ApplyChunkInput,
        BulkUploadCursor,
        BulkUploadInput,
        BulkUploadProgress,
        ChunkResult,
        FetchImagesInput,
        FinishInput,
        PlanInput,
        PlanResult,
    )
    from workflows.deadlines import message, out_of_time, passed, remaining
    from workflows.retry_policies import FINAL_WRITE, PERSISTENT
    from workflows.run_status import STATUS_AT_END_PATCH, ends_with_status, set_status, show

# Finishing must happen (the row would stay `running`): FINAL_WRITE, the longest policy.
# bulk_upload.progress events at most this often (the final event always follows).
ANNOUNCE_EVERY = timedelta(seconds=1)


@workflow.defn(name="BulkUploadWorkflow")
class BulkUploadWorkflow:
    def __init__(self) -> None:
        self._progress = BulkUploadProgress()
        self._cancel_requested = False

    @workflow.signal(name="cancel")
    def cancel(self) -> None:
        self._cancel_requested = True

    @workflow.query(name="progress")
    def progress(self) -> BulkUploadProgress:
        return self._progress

    @workflow.run
    @ends_with_status
    async def run(self, data: BulkUploadInput) -> BulkUploadProgress:
        try:
            return await self._run(data)
        except asyncio.CancelledError:
            # Cleanup runs although the workflow is being cancelled.
            await self._finish(data, "cancelled")
            raise

    async def _run(self, data: BulkUploadInput) -> BulkUploadProgress:
        cursor = data.cursor
        if cursor is None:
            self._set_status("running")
            try:
                plan: PlanResult = await workflow.execute_activity_method(
                    BulkUploadActivities.plan,
                    PlanInput(bulk_upload_id=data.bulk_upload_id, chunk_rows=data.chunk_rows),
                    start_to_close_timeout=timedelta(minutes=15),
                    retry_policy=PERSISTENT,
                )
            except ActivityError as error:
                _reraise_cancellation(error)
                return await self._finish(data, "failed", _cause_message(error))
            if plan.plan_key is None:  # not running: cancelled before it began, or finished
                if plan.status == "cancelled":
                    return await self._finish(data, "cancelled")
                self._progress.status = plan.status
                if workflow.patched(STATUS_AT_END_PATCH):
                    set_status(plan.status)  # a re-delivered start shows how it ended
                return self._progress
            cursor = BulkUploadCursor(
                plan_key=plan.plan_key,
                total_rows=plan.total_rows,
                chunk_count=plan.chunk_count,
                image_chunks=plan.image_chunks,
                deadline_at=plan.deadline_at,
                deadline_seconds=plan.deadline_seconds,
            )
        else:
            self._progress.status = "running"  # a continued run
        self._show(cursor, data.label)
        image_chunks = set(cursor.image_chunks)
        chunks_this_run = 0
        last_announce = workflow.now() - ANNOUNCE_EVERY
        while cursor.next_chunk < cursor.chunk_count:
            if self._cancel_requested:
                return await self._finish(data, "cancelled")
            if passed(cursor.deadline_at):
                return await self._finish(data, "failed", _past_deadline(cursor))
            if chunks_this_run and self._continue_as_new_due(data, chunks_this_run):
                workflow.continue_as_new(
                    replace(data, cursor=replace(cursor, runs=cursor.runs + 1))
                )
            index = cursor.next_chunk
            images_key = None
            if index in image_chunks:
                try:
                    images_key = await self._fetch_images(data, cursor, index)
                except ActivityError as error:
                    _reraise_cancellation(error)
                    return await self._finish(data, "failed", _stopped_at(cursor, error))
                if self._cancel_requested:
                    return await self._finish(data, "cancelled")
            last = index == cursor.chunk_count - 1
            announce = not last and workflow.now() - last_announce >= ANNOUNCE_EVERY
            try:
                result: ChunkResult = await workflow.execute_activity_method(
                    BulkUploadActivities.apply_chunk,
                    ApplyChunkInput(
                        bulk_upload_id=data.bulk_upload_id,
                        plan_key=cursor.plan_key,
                        chunk=index,
                        images_key=images_key,
                        announce=announce,
                    ),
                    start_to_close_timeout=timedelta(minutes=5),
                    schedule_to_close_timeout=remaining(cursor.deadline_at),
                    retry_policy=PERSISTENT,
                )
            except ActivityError as error:
                _reraise_cancellation(error)
                return await self._finish(data, "failed", _stopped_at(cursor, error))
            if result.stopped:
                return await self._finish(data, "cancelled")
            if announce:
                last_announce = workflow.now()
            cursor = replace(
                cursor,
                next_chunk=index + 1,
                processed=result.processed,
                created=result.created,
                updated=result.updated,
                failed=result.failed,
            )
            self._show(cursor, data.label)
            chunks_this_run += 1
        return await self._finish(data, "completed")

    async def _fetch_images(
        self, data: BulkUploadInput, cursor: BulkUploadCursor, index: int
    ) -> str | None:
        """The chunk's image manifest; a cancel request cuts a long fetch short (None)."""
        handle = workflow.start_activity_method(
            BulkUploadActivities.fetch_images,
            FetchImagesInput(
                bulk_upload_id=data.bulk_upload_id, plan_key=cursor.plan_key, chunk=index
            ),
            start_to_close_timeout=timedelta(hours=1),
            schedule_to_close_timeout=remaining(cursor.deadline_at),
            heartbeat_timeout=timedelta(minutes=2),
            retry_policy=PERSISTENT,
        )
        await workflow.wait_condition(lambda: handle.done() or self._cancel_requested)
        if not handle.done():
            handle.cancel()
            with contextlib.suppress(asyncio.CancelledError, ActivityError):
                await handle
            return None
        return handle.result()

    def _continue_as_new_due(self, data: BulkUploadInput, chunks_this_run: int) -> bool:
        if data.continue_as_new_every and chunks_this_run >= data.continue_as_new_every:
            return True
        return workflow.info().is_continue_as_new_suggested()

    async def _finish(
        self, data: BulkUploadInput, status: str, message: str | None = None
    ) -> BulkUploadProgress:
        final: str = await workflow.execute_activity_method(
            BulkUploadActivities.finish,
            FinishInput(bulk_upload_id=data.bulk_upload_id, status=status, error_message=message),
            start_to_close_timeout=timedelta(minutes=10),
            retry_policy=FINAL_WRITE,
        )
        self._set_status(final)
        return self._progress

    def _show(self, cursor: BulkUploadCursor, label: str | None) -> None:
        failed = f" · {cursor.failed} failed" if cursor.failed else ""
        show(f"rows {cursor.processed:,} of {cursor.total_rows:,}{failed}", label=label)
        self._progress = BulkUploadProgress(
            status=self._progress.status,
            total_rows=cursor.total_rows,
            processed_rows=cursor.processed,
            created=cursor.created,
            updated=cursor.updated,
            failed=cursor.failed,
            chunk=cursor.next_chunk,
            chunk_count=cursor.chunk_count,
            runs=cursor.runs,
        )

    def _set_status(self, status: str) -> None:
        self._progress.status = status
        set_status(status)


def _reraise_cancellation(error: ActivityError) -> None:
    """An activity cancelled because the workflow is: the workflow's cancellation, not a
    failure of the upload (run() finishes it as cancelled)."""
    if isinstance(error.cause, CancelledError):
        raise asyncio.CancelledError from error


def _cause_message(error: ActivityError) -> str:
    cause = error.cause
    if isinstance(cause, ApplicationError):
        return cause.message
    return str(cause or error)


def _stopped_at(cursor: BulkUploadCursor, error: ActivityError) -> str:
    if out_of_time(error, cursor.deadline_at):
        return _past_deadline(cursor)
    return f"Stopped after {cursor.processed} rows: {_cause_message(error)}"


def _past_deadline(cursor: BulkUploadCursor) -> str:
    limit = message("bulk upload", "BULK_UPLOAD_DEADLINE_SECONDS", cursor.deadline_seconds)
    return f"Stopped after {cursor.processed} rows: {limit}"
