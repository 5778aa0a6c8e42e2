"""Media cleanup workflows: delete an object after its row (dead letter when it keeps
failing), retry dead letters, and the orphan scan that catches whatever slipped through."""

from __future__ import annotations

import dataclasses
from datetime import timedelta

from temporalio import workflow
from temporalio.common import RetryPolicy
from temporalio.exceptions import ActivityError, ApplicationError

with workflow.unsafe.imports_passed_through():
    from activities.media_cleanup import MediaCleanupActivities
    from workflows.maintenance_types import (
        JOB_FILE_PHASES_PATCH,
        ORPHAN_PHASES,
        DeadLetterBatchResult,
        DeadLetterInput,
        DeadLetterRetryInput,
        DeadLetterRetryResult,
        DeleteObjectInput,
        FinishReportInput,
        MediaDeletionInput,
        MediaDeletionResult,
        OrphanPageInput,
        OrphanPageResult,
        OrphanScanInput,
        OrphanScanPlan,
        OrphanScanResult,
        OrphanScanState,
    )
    from workflows.retry_policies import FINAL_WRITE, PERSISTENT
    from workflows.run_status import STATUS_AT_END_PATCH, ends_with_status, set_status, show

SHORT = timedelta(seconds=60)
# Database bookkeeping retries through outages (PERSISTENT, ~10 min); the write recording
# how a run ended (dead letter, scan report) longer still (FINAL_WRITE, ~29 min). Neither
# retries forever: a run whose database is gone for good ends failed, readable in the UI.


def _cause(error: ActivityError) -> str:
    cause = error.cause
    if isinstance(cause, ApplicationError):
        return f"{cause.type}: {cause.message}" if cause.type else cause.message
    return str(cause or error)


@workflow.defn(name="MediaDeletionWorkflow")
class MediaDeletionWorkflow:
    """Started after the row's deletion is committed (`media-deletion-{media id}`)."""

    @workflow.run
    @ends_with_status
    async def run(self, data: MediaDeletionInput) -> MediaDeletionResult:
        retry = RetryPolicy(
            initial_interval=timedelta(seconds=data.initial_interval_seconds),
            backoff_coefficient=2.0,
            maximum_interval=timedelta(minutes=1),
            maximum_attempts=max(1, data.max_attempts),
        )
        try:
            outcome: str = await workflow.execute_activity_method(
                MediaCleanupActivities.delete_object,
                DeleteObjectInput(storage_key=data.storage_key, bucket=data.bucket),
                start_to_close_timeout=SHORT,
                retry_policy=retry,
            )
        except ActivityError as error:
            # Retries exhausted: the dead letter keeps the key for the scheduled retry.
            if workflow.patched(STATUS_AT_END_PATCH):
                set_status("failed")  # the object is still there
            await workflow.execute_activity_method(
                MediaCleanupActivities.record_dead_letter,
                DeadLetterInput(
                    storage_key=data.storage_key,
                    media_resource_id=data.media_resource_id,
                    error_message=_cause(error),
                ),
                start_to_close_timeout=SHORT,
                retry_policy=FINAL_WRITE,
            )
            return MediaDeletionResult(outcome="dead_lettered")
        return MediaDeletionResult(outcome=outcome)


@workflow.defn(name="DeadLetterRetryWorkflow")
class DeadLetterRetryWorkflow:
    """Every 15 minutes: retry due dead letters batch by batch (bounded per run)."""

    @workflow.run
    @ends_with_status
    async def run(self, data: DeadLetterRetryInput) -> DeadLetterRetryResult:
        totals = DeadLetterBatchResult()
        data = dataclasses.replace(data, attempted_before=workflow.now().isoformat())
        for _ in range(max(1, data.max_batches)):
            batch: DeadLetterBatchResult = await workflow.execute_activity_method(
                MediaCleanupActivities.retry_dead_letters,
                data,
                start_to_close_timeout=timedelta(minutes=5),
                retry_policy=RetryPolicy(maximum_attempts=3),
            )
            totals = DeadLetterBatchResult(
                attempted=totals.attempted + batch.attempted,
                resolved=totals.resolved + batch.resolved,
                failed=totals.failed + batch.failed,
                given_up=totals.given_up + batch.given_up,
            )
            if batch.attempted < data.batch_size:
                break
        if totals.attempted:
            # Quiet runs leave no report (96 runs a day would bury the interesting ones).
            await workflow.execute_activity_method(
                MediaCleanupActivities.record_retry_report,
                DeadLetterRetryResult(**dataclasses.asdict(totals)),
                start_to_close_timeout=SHORT,
                retry_policy=PERSISTENT,
            )
        return DeadLetterRetryResult(**dataclasses.asdict(totals))


@workflow.defn(name="OrphanScanWorkflow")
class OrphanScanWorkflow:
    """Daily (and on demand): (a) unused media rows past the grace period, (b) `media/`
    objects without a row, (c) `temp/` objects past their TTL, (d) `bulk-uploads/` and
    `exports/` files no job needs past their age. Never a protected or an attached media.
    Pages through the bucket in activities; the cursor travels between them and across
    continue-as-new."""

    @workflow.run
    @ends_with_status
    async def run(self, data: OrphanScanInput) -> OrphanScanResult:
        state = data.state
        if state is None:
            plan: OrphanScanPlan = await workflow.execute_activity_method(
                MediaCleanupActivities.start_orphan_scan,
                data,
                start_to_close_timeout=SHORT,
                retry_policy=PERSISTENT,
            )
            state = OrphanScanState(plan=plan)
        phase: str | None = state.phase
        cursor, counts, pages = state.cursor, dict(state.counts), 0
        try:
            while phase is not None:
                page: OrphanPageResult = await workflow.execute_activity_method(
                    MediaCleanupActivities.scan_orphan_page,
                    OrphanPageInput(
                        plan=state.plan,
                        phase=phase,
                        cursor=cursor,
                        dry_run=data.dry_run,
                        page_size=data.page_size,
                        bucket=data.bucket,
                    ),
                    start_to_close_timeout=timedelta(minutes=10),
                    heartbeat_timeout=timedelta(minutes=2),
                    retry_policy=RetryPolicy(
                        maximum_interval=timedelta(minutes=1), maximum_attempts=10
                    ),
                )
                for key, value in page.counts.items():
                    counts[key] = counts.get(key, 0) + value
                pages += 1
                cursor = page.next_cursor
                deleted = sum(v for k, v in counts.items() if k.endswith("deleted"))
                show(
                    f"Orphan scan · run {state.runs + 1} · {phase} · page {state.pages + pages}"
                    f" · {deleted} deleted"
                )
                if cursor is None:
                    phase = _next_phase(phase)
                if phase is not None and self._should_continue(data, pages):
                    workflow.continue_as_new(
                        dataclasses.replace(
                            data,
                            state=OrphanScanState(
                                plan=state.plan,
                                phase=phase,
                                cursor=cursor,
                                counts=counts,
                                runs=state.runs + 1,
                                pages=state.pages + pages,
                            ),
                        )
                    )
        except ActivityError as error:
            await self._finish(state, counts, "failed", pages, error=_cause(error))
            raise
        await self._finish(state, counts, "completed", pages)
        return OrphanScanResult(report_id=state.plan.report_id, counts=counts, runs=state.runs)

    @staticmethod
    def _should_continue(data: OrphanScanInput, pages: int) -> bool:
        if data.pages_per_run is not None and pages >= data.pages_per_run:
            return True
        return workflow.info().is_continue_as_new_suggested()

    @staticmethod
    async def _finish(
        state: OrphanScanState,
        counts: dict[str, int],
        status: str,
        pages: int,
        error: str | None = None,
    ) -> None:
        details: dict[str, object] = {"runs": state.runs, "pages": state.pages + pages}
        if error:
            details["error"] = error
        await workflow.execute_activity_method(
            MediaCleanupActivities.finish_orphan_scan,
            FinishReportInput(
                report_id=state.plan.report_id, status=status, counts=counts, details=details
            ),
            start_to_close_timeout=SHORT,
            retry_policy=FINAL_WRITE,
        )


def _next_phase(phase: str) -> str | None:
    index = ORPHAN_PHASES.index(phase) + 1
    if index >= len(ORPHAN_PHASES):
        return None
    following = ORPHAN_PHASES[index]
    if following == "bulk" and not workflow.patched(JOB_FILE_PHASES_PATCH):
        return None  # replaying a scan recorded before the job-file phases existed
    return following
