"""ShootingGenerationWorkflow: generate every shot of a shooting (or of one look) as child
GenerationWorkflows, a bounded window in flight; cancelling it cancels the children.

A batch (a `shooting_generation` row, run as `shooting-generation-{batch id}`) is planned a
page at a time from Postgres: `batch.plan_page` returns the next shots after a cursor and
creates their pending generations (ids uuid5(batch, shot): a retried page creates nothing
twice). The window is refilled from the page and the next page fetched as the last one
empties. After `pages_per_run` pages, or sooner when Temporal suggests it, no page is
fetched: the window drains and the run continues as new with the cursor and the counts, so
each run's history stays a few thousand events whatever the batch's size, and no child
outlives the run that started it.

Runs from before batch rows (no `batch_id` in their input: recorded histories, runs in
flight at the upgrade) plan every shot up front, as they always did (`_run_legacy`).
"""

from __future__ import annotations

import asyncio
from collections import deque
from dataclasses import replace
from datetime import timedelta

from temporalio import workflow
from temporalio.common import Priority, SearchAttributePair
from temporalio.exceptions import (
    ActivityError,
    ApplicationError,
    ChildWorkflowError,
    WorkflowAlreadyStartedError,
    is_cancelled_exception,
)
from temporalio.workflow import ActivityCancellationType, ActivityHandle

with workflow.unsafe.imports_passed_through():
    from activities.batch import BATCH_GONE, INVALID_BATCH, BatchActivities
    from activities.generation import GenerationActivities
    from core.temporal import ENTITY_ID, ENTITY_TYPE, PRIORITY_BATCH_CHILD, STATUS, fairness_key
    from workflows.batch_types import (
        BatchCarry,
        BatchCounts,
        BatchPage,
        BatchProgress,
        CancelRestInput,
        FinishBatchInput,
        FinishedBatch,
        PlanBatchInput,
        PlannedGeneration,
        PlanPageInput,
        ShootingGenerationInput,
        ShotCursor,
    )
    from workflows.generation import GenerationWorkflow
    from workflows.retry_policies import FINAL_WRITE, PERSISTENT
    from workflows.run_status import ends_with_status, set_status, show
    from workflows.types import FinishInput, GenerationInput

# The batch's row marks this version: a later release can drop `_run_legacy` with
# `workflow.deprecate_patch` once no run without a batch id is left.
PAGED_BATCHES = "paged-batches"
# workflow.patched id: a cancel waits for the page being planned (see _work).
PAGE_BEFORE_CANCEL = "cancel-waits-for-planned-page"
# About 10 minutes of retries (workflows/retry_policies.py), so a Postgres or Redis outage
# of minutes is ridden out; the end is written for longer still. A missing batch or a request
# that no longer validates fails at once (the activities raise them non-retryable too).
BAD_INPUT = [BATCH_GONE, INVALID_BATCH, "InvalidConfig"]
RETRY = replace(PERSISTENT, non_retryable_error_types=BAD_INPUT)
FINISH_RETRY = replace(FINAL_WRITE, non_retryable_error_types=BAD_INPUT)
ACTIVITY_TIMEOUT = timedelta(minutes=2)
CANCELLED_UNSTARTED = "Batch cancelled before this generation started"


@workflow.defn(name="ShootingGenerationWorkflow")
class ShootingGenerationWorkflow:
    def __init__(self) -> None:
        self._progress = BatchProgress()
        # A list, not a set: workflow.wait returns lists, and a set of tasks iterates in an
        # order that differs between runs (replay must see the same order).
        self._running: list[asyncio.Task[None]] = []
        self._queue: deque[PlannedGeneration] = deque()
        self._planning: ActivityHandle[BatchPage] | None = None  # the page being planned

    @workflow.query(name="progress")
    def progress(self) -> BatchProgress:
        return self._progress

    @workflow.run
    @ends_with_status
    async def run(self, batch: ShootingGenerationInput) -> BatchProgress:
        if batch.batch_id is not None and workflow.patched(PAGED_BATCHES):
            return await self._run_paged(batch)
        return await self._run_legacy(batch)

    # -- batches with a row: paged, windowed, continued as new -------------------------------

    async def _run_paged(self, batch: ShootingGenerationInput) -> BatchProgress:
        carry = batch.carry or BatchCarry()
        counts = carry.counts
        self._progress = BatchProgress(
            total=carry.total,
            completed=counts.completed,
            failed=counts.failed,
            cancelled=counts.cancelled,
            skipped=counts.skipped,
            planned=carry.planned,
            runs=carry.runs,
        )
        try:
            carry = await self._work(batch, carry)
        except asyncio.CancelledError:
            await self._cancel_paged(batch)
            raise
        except ActivityError as error:
            if is_cancelled_exception(error):  # the cancel landed while a page was planned
                await self._cancel_paged(batch)
                raise asyncio.CancelledError from error
            # No retry can plan the rest (or every retry failed): the window drains, the
            # generations planned so far run, and the batch ends `failed` saying why.
            return await self._end(batch, "failed", planned_all=False, message=_message(error))
        if not carry.planned_all:
            workflow.continue_as_new(replace(batch, carry=replace(carry, runs=carry.runs + 1)))
        return await self._end(batch, "completed", planned_all=True)

    async def _work(self, batch: ShootingGenerationInput, carry: BatchCarry) -> BatchCarry:
        """Run children until every shot is planned and run (planned_all) or it is time to
        continue as new; either way nothing is left running or queued."""
        limit = max(1, batch.max_in_flight)
        cursor, planned_all, total = carry.cursor, carry.planned_all, carry.total
        pages = 0
        while True:
            if not self._queue and not planned_all and not self._rollover_due(batch, pages):
                page = await self._plan_page(batch, cursor)
                pages += 1
                cursor, planned_all, total = page.cursor, page.done, page.total
                self._progress.total = total
                self._progress.skipped += page.skipped
                self._progress.planned += len(page.items)
                self._queue.extend(page.items)
            while self._queue and len(self._running) < limit:
                item = self._queue.popleft()
                self._running.append(asyncio.create_task(self._child(batch, item)))
            self._progress.running = len(self._running)
            if not self._running:
                break
            self._show(batch)
            _done, self._running = await workflow.wait(
                self._running, return_when=asyncio.FIRST_COMPLETED
            )
        self._progress.running = 0
        return BatchCarry(
            cursor=cursor,
            planned_all=planned_all,
            total=total,
            planned=self._progress.planned,
            counts=self._counts(),
            runs=self._progress.runs,
        )

    async def _plan_page(
        self, batch: ShootingGenerationInput, cursor: ShotCursor | None
    ) -> BatchPage:
        data = PlanPageInput(
            batch_id=batch.batch_id or "",
            after=cursor,
            limit=batch.page_size,
            counts=self._counts(),
        )
        if not workflow.patched(PAGE_BEFORE_CANCEL):
            return await workflow.execute_activity_method(
                BatchActivities.plan_page,
                data,
                start_to_close_timeout=ACTIVITY_TIMEOUT,
                retry_policy=RETRY,
            )
        # A cancel must wait for the page being planned: its rows would otherwise be committed
        # after cancel_rest ended the batch's pending ones, and stay `pending` for good (seen:
        # a page of 25 in the chaos batch scenario). And it must not be lost: awaiting the
        # activity itself, a cancel arriving as the activity completes is absorbed (asyncio
        # hands the cancelled awaiter the activity's result) and the batch ran on to its end.
        # So the page runs as its own task and is awaited through workflow.wait (a cancel
        # always raises here); _cancel_paged cancels it and waits for it to end.
        self._planning = workflow.start_activity_method(
            BatchActivities.plan_page,
            data,
            start_to_close_timeout=ACTIVITY_TIMEOUT,
            retry_policy=RETRY,
            cancellation_type=ActivityCancellationType.WAIT_CANCELLATION_COMPLETED,
        )
        await workflow.wait([self._planning])
        planning, self._planning = self._planning, None
        return planning.result()

    def _rollover_due(self, batch: ShootingGenerationInput, pages: int) -> bool:
        """Stop planning in this run (its window then drains): after its share of pages, or
        when the server finds its history long; never before its first page."""
        if pages == 0:
            return False
        return pages >= batch.pages_per_run or workflow.info().is_continue_as_new_suggested()

    async def _child(self, batch: ShootingGenerationInput, item: PlannedGeneration) -> None:
        try:
            outcome = await self._run_child(batch, item)
        except (ChildWorkflowError, asyncio.CancelledError) as error:
            if is_cancelled_exception(error):
                self._progress.cancelled += 1
            else:  # it failed (or was terminated) as a workflow
                self._progress.failed += 1
            return
        except WorkflowAlreadyStartedError:
            # Its workflow runs outside this batch (the batch's finish reads its outcome).
            workflow.logger.warning("generation %s already running", item.generation_id)
            return
        if outcome == "failed":
            self._progress.failed += 1
        else:  # completed, or it had ended before the batch reached it
            self._progress.completed += 1

    async def _run_child(self, batch: ShootingGenerationInput, item: PlannedGeneration) -> str:
        return await workflow.execute_child_workflow(
            GenerationWorkflow.run,
            GenerationInput(generation_id=item.generation_id),
            id=f"generation-{item.generation_id}",
            priority=Priority(
                priority_key=PRIORITY_BATCH_CHILD,
                fairness_key=fairness_key(batch.organization_id, batch.user_id),
            ),
            search_attributes=workflow.info().typed_search_attributes.updated(
                SearchAttributePair(ENTITY_ID, item.generation_id),
                SearchAttributePair(ENTITY_TYPE, "generation"),
                SearchAttributePair(STATUS, "pending"),
            ),
            static_summary=item.label,
        )

    async def _drain(self) -> None:
        if self._running:
            await workflow.wait(self._running)
        self._running = []
        self._progress.running = 0

    async def _end(
        self,
        batch: ShootingGenerationInput,
        status: str,
        *,
        planned_all: bool,
        message: str | None = None,
    ) -> BatchProgress:
        try:
            await self._drain()
        except asyncio.CancelledError:
            await self._cancel_paged(batch)
            raise
        try:
            await self._finish(batch, status, planned_all=planned_all, message=message)
        except (asyncio.CancelledError, ActivityError) as error:
            if not is_cancelled_exception(error):
                raise
            # Cancelled after its last child ended: nothing is left to cancel, and the batch
            # keeps the outcome it reached (the finish is idempotent: run it to the end).
            await self._finish(batch, status, planned_all=planned_all, message=message)
        return self._progress

    async def _cancel_paged(self, batch: ShootingGenerationInput) -> None:
        """Cancel the window's children and wait for them (they cancel their compute tasks;
        left to the parent close policy they would be terminated mid-way), then end the
        batch's generations that never started."""
        for task in self._running:
            task.cancel()
        if self._planning is not None:
            # Its current attempt ends (committed or not); it is not retried after this.
            self._planning.cancel()
            await workflow.wait([self._planning])
            if not self._planning.cancelled():
                self._planning.exception()  # its outcome is cancel_rest's business now
            self._planning = None
        await self._drain()
        self._queue.clear()
        rest = await workflow.execute_activity_method(
            BatchActivities.cancel_rest,
            CancelRestInput(batch_id=batch.batch_id or ""),
            start_to_close_timeout=ACTIVITY_TIMEOUT,
            retry_policy=RETRY,
        )
        self._progress.cancelled += rest.cancelled
        await self._finish(batch, "cancelled", planned_all=False)

    async def _finish(
        self,
        batch: ShootingGenerationInput,
        status: str,
        *,
        planned_all: bool,
        message: str | None = None,
    ) -> None:
        """The row's end; its counts come back from the database (the truth)."""
        finished: FinishedBatch = await workflow.execute_activity_method(
            BatchActivities.finish,
            FinishBatchInput(
                batch_id=batch.batch_id or "",
                status=status,
                counts=self._counts(),
                planned_all=planned_all,
                error_message=message,
            ),
            start_to_close_timeout=ACTIVITY_TIMEOUT,
            retry_policy=FINISH_RETRY,
        )
        counts = finished.counts
        self._progress.total = finished.total or self._progress.total
        self._progress.completed = counts.completed
        self._progress.failed = counts.failed
        self._progress.cancelled = counts.cancelled
        set_status(finished.status)

    def _show(self, batch: ShootingGenerationInput) -> None:
        p = self._progress
        ended = p.completed + p.failed + p.cancelled
        failed = f" · {p.failed} failed" if p.failed else ""
        text = f"{ended} of {p.total} shots ended{failed} · {p.running} running · run {p.runs + 1}"
        show(text, label=batch.label)

    def _counts(self) -> BatchCounts:
        p = self._progress
        return BatchCounts(
            completed=p.completed, failed=p.failed, cancelled=p.cancelled, skipped=p.skipped
        )

    # -- runs from before batch rows: every shot planned up front -----------------------------

    async def _run_legacy(self, batch: ShootingGenerationInput) -> BatchProgress:
        planned: list[PlannedGeneration] = await workflow.execute_activity_method(
            BatchActivities.plan_batch_legacy,
            PlanBatchInput(batch=batch, run_id=workflow.info().run_id),
            start_to_close_timeout=ACTIVITY_TIMEOUT,
            retry_policy=RETRY,
        )
        self._progress.total = len(planned)
        queue = list(planned)
        running: list[asyncio.Task[None]] = []
        limit = max(1, batch.max_in_flight)
        try:
            while queue or running:
                while queue and len(running) < limit:
                    running.append(asyncio.create_task(self._generate(batch, queue.pop(0))))
                self._progress.running = len(running)
                _done, running = await workflow.wait(running, return_when=asyncio.FIRST_COMPLETED)
        except asyncio.CancelledError:
            await self._cancel_legacy(running, queue)
            raise
        self._progress.running = 0
        set_status("completed")
        return self._progress

    async def _cancel_legacy(
        self, running: list[asyncio.Task[None]], queue: list[PlannedGeneration]
    ) -> None:
        for task in running:
            task.cancel()
        if running:
            await workflow.wait(running)
        self._progress.running = 0
        for item in queue:
            await workflow.execute_activity_method(
                GenerationActivities.finish_generation,
                FinishInput(
                    generation_id=item.generation_id,
                    status="cancelled",
                    error_message=CANCELLED_UNSTARTED,
                    error_category="cancelled",
                ),
                start_to_close_timeout=timedelta(seconds=30),
                retry_policy=RETRY,
            )
            self._progress.cancelled += 1
        set_status("cancelled")

    async def _generate(self, batch: ShootingGenerationInput, item: PlannedGeneration) -> None:
        try:
            outcome = await self._run_child(batch, item)
        except (ChildWorkflowError, asyncio.CancelledError):
            self._progress.cancelled += 1
            return
        if outcome == "failed":
            self._progress.failed += 1
        else:
            self._progress.completed += 1


def _message(error: ActivityError) -> str:
    cause = error.cause
    if isinstance(cause, ApplicationError):
        return cause.message
    return str(cause or error)
