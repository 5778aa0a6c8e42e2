"""ExportWorkflow: a shooting's (or a selection's) images, converted and renamed, delivered
as one zip in the bucket or pushed one by one to a webhook.

plan (images + names, written to the bucket) → zip: one resumable activity streams the
archive into a multipart upload (see activities/export_zip.py) | webhook: one activity per
image, a few at a time, retried with backoff; an image that still fails is counted and the
others go on → shots marked exported → completed (or failed). A cancel request cancels the
running activities, aborts the multipart upload and ends `cancelled`.

The plan fixes the export's deadline (EXPORT_DEADLINE_SECONDS from when it started
running); it bounds every activity doing the work, and past it the export ends `failed`
naming the deadline, its partial archive removed like any failure's. Recording the end and
the cleanup are not bounded by it.
"""

from __future__ import annotations

import asyncio
import contextlib
from datetime import timedelta

from temporalio import workflow
from temporalio.common import RetryPolicy
from temporalio.exceptions import ActivityError, ApplicationError, CancelledError
from temporalio.workflow import ActivityCancellationType

with workflow.unsafe.imports_passed_through():
    from activities.export import ExportActivities
    from workflows.deadlines import DeadlineExceeded, message, out_of_time, passed, remaining
    from workflows.export_types import (
        BuildZipInput,
        CleanupInput,
        DeliverInput,
        ExportInput,
        ExportOutcome,
        ExportPlan,
        ExportProgress,
        ExportProgressInput,
        FinishExportInput,
        WebhookCursor,
        ZipResult,
    )
    from workflows.retry_policies import FINAL_WRITE, PERSISTENT
    from workflows.run_status import ends_with_status, set_status, show

SHORT = timedelta(seconds=30)
# A zip attempt resumes where the previous one stopped, so retrying is cheap.
ZIP_RETRY = RetryPolicy(
    initial_interval=timedelta(seconds=1),
    maximum_interval=timedelta(seconds=60),
    maximum_attempts=20,
)
ZIP_TIMEOUT = timedelta(hours=12)
DELIVERY_RETRY = RetryPolicy(
    initial_interval=timedelta(seconds=1),
    backoff_coefficient=2.0,
    maximum_interval=timedelta(seconds=60),
    maximum_attempts=5,
)
DELIVERY_TIMEOUT = timedelta(minutes=5)
DELIVERIES_IN_FLIGHT = 4
# Each delivery adds a few history events: start a fresh run well before the limits.
DELIVERIES_PER_RUN = 1_000
PROGRESS_STEP = 0.05  # fraction of the images between two progress reports
CANCELLED = "Cancelled by request"
# A plan that failed for good is recorded as the export's failure (before: the run failed
# and left the row to whoever looked).
PLAN_FAILURE_PATCH = "export-plan-failure-recorded"


@workflow.defn(name="ExportWorkflow")
class ExportWorkflow:
    def __init__(self) -> None:
        self._status = "pending"
        self._phase = "planning"
        self._total = 0
        self._processed = 0
        self._failed = 0
        self._out_of_time = False

    @workflow.query(name="progress")
    def progress(self) -> ExportProgress:
        return ExportProgress(
            status=self._status,
            phase=self._phase,
            total=self._total,
            processed=self._processed,
            failed=self._failed,
        )

    @workflow.run
    @ends_with_status
    async def run(self, data: ExportInput) -> ExportOutcome:
        try:
            plan = data.plan or await workflow.execute_activity_method(
                ExportActivities.plan, data, start_to_close_timeout=SHORT, retry_policy=PERSISTENT
            )
        except asyncio.CancelledError:
            await self._finish(data.export_id, "cancelled", error=CANCELLED)
            raise
        except ActivityError as error:
            if isinstance(error.cause, CancelledError) or not workflow.patched(PLAN_FAILURE_PATCH):
                raise
            return ExportOutcome(
                await self._finish(data.export_id, "failed", error=_cause_message(error))
            )
        if plan.already_finished:
            self._phase = "done"
            if plan.status:
                self._set_status(plan.status)  # a re-delivered start shows how it ended
            return ExportOutcome(status="already_finished")
        self._total = plan.total
        self._set_status("running")
        self._show(data)
        try:
            if plan.error:
                return ExportOutcome(await self._finish(plan.export_id, "failed", error=plan.error))
            if plan.target == "zip":
                return await self._zip(plan, data)
            return await self._webhook(plan, data)
        except asyncio.CancelledError:
            await self._cancelled(plan)
            raise
        except ActivityError as error:
            if isinstance(error.cause, CancelledError):
                await self._cancelled(plan)
                raise asyncio.CancelledError() from error
            # Retries exhausted, a failure no retry can fix, or out of time.
            reason = _deadline_message(plan) if out_of_time(error, plan.deadline_at) else None
            return await self._fail(plan, reason or _cause_message(error))
        except DeadlineExceeded as exceeded:
            return await self._fail(plan, exceeded.message)

    async def _fail(self, plan: ExportPlan, error: str) -> ExportOutcome:
        status = await self._finish(plan.export_id, "failed", error=error)
        await self._cleanup(plan, delete_result=status != "completed")
        return ExportOutcome(status, self._processed, self._failed)

    # -- zip -------------------------------------------------------------------------------

    async def _zip(self, plan: ExportPlan, data: ExportInput) -> ExportOutcome:
        self._phase = "zipping"
        self._show(data)
        building = workflow.start_activity_method(
            ExportActivities.build_zip,
            BuildZipInput(
                export_id=plan.export_id,
                plan_key=plan.plan_key,
                result_key=plan.result_key,
                format=plan.format,
                max_dimension=plan.max_dimension,
                total=plan.total,
                part_size=plan.part_size,
            ),
            start_to_close_timeout=ZIP_TIMEOUT,
            schedule_to_close_timeout=remaining(plan.deadline_at),
            heartbeat_timeout=timedelta(seconds=data.heartbeat_timeout_seconds),
            retry_policy=ZIP_RETRY,
            # The activity aborts its upload before the workflow records `cancelled`.
            cancellation_type=ActivityCancellationType.WAIT_CANCELLATION_COMPLETED,
        )
        try:
            # Shielded: an activity that completes although cancelled would otherwise swallow
            # the workflow's cancellation, and a cancelled export must end `cancelled`.
            result: ZipResult = await asyncio.shield(building)
        except asyncio.CancelledError:
            building.cancel()
            with contextlib.suppress(asyncio.CancelledError, ActivityError):
                await building  # until the attempt has aborted its upload (or finished)
            raise
        self._processed, self._failed = result.processed, result.failed
        if result.processed == 0:
            await self._finish(plan.export_id, "failed", error="None of the images could be read")
            await self._cleanup(plan, delete_result=True)
            return ExportOutcome("failed", 0, result.failed, result)
        # Uploads of abandoned attempts (a checkpoint that could not be resumed) go too.
        await self._cleanup(plan, delete_result=False)
        status = await self._finish(
            plan.export_id,
            "completed",
            plan_key=plan.plan_key,
            failed_indexes=result.failed_indexes,
            result_key=result.result_key,
        )
        return ExportOutcome(status, result.processed, result.failed, result)

    # -- webhook ---------------------------------------------------------------------------

    async def _webhook(self, plan: ExportPlan, data: ExportInput) -> ExportOutcome:
        self._phase = "delivering"
        cursor = data.cursor or WebhookCursor()
        index, first = cursor.next_index, cursor.next_index
        self._processed, self._failed = cursor.processed, cursor.failed
        failed_indexes = list(cursor.failed_indexes)
        reported = self._processed + self._failed
        step = max(1, int(plan.total * PROGRESS_STEP))
        while index < plan.total:
            _check_deadline(plan)
            batch = range(index, min(index + DELIVERIES_IN_FLIGHT, plan.total))
            delivered = await asyncio.gather(*(self._deliver(plan, i) for i in batch))
            for i, ok in zip(batch, delivered, strict=True):
                if ok:
                    self._processed += 1
                else:
                    self._failed += 1
                    failed_indexes.append(i)
            index = batch.stop
            self._show(data)
            done = self._processed + self._failed
            if done - reported >= step and index < plan.total:
                reported = done
                await self._report_progress(plan)
            if index < plan.total and (
                index - first >= DELIVERIES_PER_RUN
                or workflow.info().is_continue_as_new_suggested()
            ):
                workflow.continue_as_new(
                    ExportInput(
                        export_id=plan.export_id,
                        heartbeat_timeout_seconds=data.heartbeat_timeout_seconds,
                        plan=plan,
                        cursor=WebhookCursor(index, self._processed, self._failed, failed_indexes),
                        label=data.label,
                    )
                )
        if self._out_of_time:  # deliveries cut short by the deadline: its failure, not theirs
            raise DeadlineExceeded(_deadline_message(plan))
        if self._processed == 0:
            status = await self._finish(
                plan.export_id, "failed", error="No image could be delivered"
            )
            return ExportOutcome(status, 0, self._failed)
        status = await self._finish(
            plan.export_id, "completed", plan_key=plan.plan_key, failed_indexes=failed_indexes
        )
        return ExportOutcome(status, self._processed, self._failed)

    async def _deliver(self, plan: ExportPlan, index: int) -> bool:
        """True when the image was delivered; False once its retries are exhausted."""
        try:
            await workflow.execute_activity_method(
                ExportActivities.deliver,
                DeliverInput(
                    export_id=plan.export_id,
                    plan_key=plan.plan_key,
                    index=index,
                    total=plan.total,
                    format=plan.format,
                    max_dimension=plan.max_dimension,
                ),
                start_to_close_timeout=DELIVERY_TIMEOUT,
                schedule_to_close_timeout=remaining(plan.deadline_at),
                heartbeat_timeout=timedelta(seconds=90),
                retry_policy=DELIVERY_RETRY,
            )
        except ActivityError as error:
            if isinstance(error.cause, CancelledError):
                raise
            self._out_of_time = self._out_of_time or out_of_time(error, plan.deadline_at)
            workflow.logger.warning("image %s not delivered: %s", index, _cause_message(error))
            return False
        return True

    # -- bookkeeping -----------------------------------------------------------------------

    def _show(self, data: ExportInput) -> None:
        failed = f" · {self._failed} failed" if self._failed else ""
        show(f"{self._phase} · {self._processed} of {self._total} images{failed}", label=data.label)

    async def _report_progress(self, plan: ExportPlan) -> None:
        await workflow.execute_activity_method(
            ExportActivities.record_progress,
            ExportProgressInput(plan.export_id, self._processed, self._failed),
            start_to_close_timeout=SHORT,
            schedule_to_close_timeout=remaining(plan.deadline_at),
            retry_policy=PERSISTENT,
        )

    async def _cleanup(self, plan: ExportPlan, *, delete_result: bool) -> None:
        if plan.target != "zip":
            return
        await workflow.execute_activity_method(
            ExportActivities.cleanup,
            CleanupInput(plan.export_id, plan.result_key, delete_result),
            start_to_close_timeout=timedelta(minutes=2),
            heartbeat_timeout=timedelta(seconds=30),
            retry_policy=PERSISTENT,
        )

    async def _cancelled(self, plan: ExportPlan) -> None:
        # Runs although the workflow is being cancelled: activities may still be scheduled.
        # The database decides first: a `completed` recorded just before the cancel request
        # stands (with its archive); otherwise the export is cancelled and the archive goes.
        status = await self._finish(plan.export_id, "cancelled", error=CANCELLED)
        await self._cleanup(plan, delete_result=status != "completed")

    async def _finish(
        self,
        export_id: str,
        status: str,
        *,
        plan_key: str | None = None,
        error: str | None = None,
        failed_indexes: list[int] | None = None,
        result_key: str | None = None,
    ) -> str:
        """Record the final state; returns the export's status (the first final state
        recorded wins, so it may differ from `status`)."""
        self._phase = "finishing"
        final: str = await workflow.execute_activity_method(
            ExportActivities.finish,
            FinishExportInput(
                export_id=export_id,
                status=status,
                processed=self._processed,
                failed=self._failed,
                failed_indexes=failed_indexes or [],
                plan_key=plan_key,
                result_key=result_key,
                error_message=error,
            ),
            start_to_close_timeout=SHORT,
            retry_policy=FINAL_WRITE,
        )
        self._phase = "done"
        self._set_status(final)
        return final

    def _set_status(self, status: str) -> None:
        self._status = status
        set_status(status)


def _deadline_message(plan: ExportPlan) -> str:
    return message("export", "EXPORT_DEADLINE_SECONDS", plan.deadline_seconds)


def _check_deadline(plan: ExportPlan) -> None:
    if passed(plan.deadline_at):
        raise DeadlineExceeded(_deadline_message(plan))


def _cause_message(error: ActivityError) -> str:
    cause = error.cause
    if isinstance(cause, ApplicationError):
        return cause.message
    return str(cause or error)
