"""ShootingGenerationWorkflow: generate every shot of a shooting (or of one look) as child
GenerationWorkflows, with a bounded number in flight; cancelling it cancels the children."""

from __future__ import annotations

import asyncio
from datetime import timedelta

from temporalio import workflow
from temporalio.common import Priority, RetryPolicy, SearchAttributePair
from temporalio.exceptions import ChildWorkflowError

with workflow.unsafe.imports_passed_through():
    from activities.generation import GenerationActivities
    from core.temporal import ENTITY_ID, ENTITY_TYPE, PRIORITY_BATCH_CHILD, STATUS, fairness_key
    from workflows.generation import GenerationWorkflow
    from workflows.types import (
        BatchProgress,
        FinishInput,
        GenerationInput,
        PlanBatchInput,
        PlannedGeneration,
        ShootingGenerationInput,
    )


@workflow.defn(name="ShootingGenerationWorkflow")
class ShootingGenerationWorkflow:
    def __init__(self) -> None:
        self._progress = BatchProgress()

    @workflow.query(name="progress")
    def progress(self) -> BatchProgress:
        return self._progress

    @workflow.run
    async def run(self, batch: ShootingGenerationInput) -> BatchProgress:
        planned: list[PlannedGeneration] = await workflow.execute_activity_method(
            GenerationActivities.plan_batch,
            PlanBatchInput(batch=batch, run_id=workflow.info().run_id),
            start_to_close_timeout=timedelta(minutes=2),
            retry_policy=RetryPolicy(maximum_interval=timedelta(seconds=30)),
        )
        self._progress.total = len(planned)
        queue = list(planned)
        # A list, not a set: workflow.wait returns lists, and a set of tasks iterates in an
        # order that differs between runs (replay must see the same order).
        running: list[asyncio.Task[None]] = []
        limit = max(1, batch.max_in_flight)
        try:
            while queue or running:
                while queue and len(running) < limit:
                    running.append(asyncio.create_task(self._generate(batch, queue.pop(0))))
                self._progress.running = len(running)
                _done, running = await workflow.wait(running, return_when=asyncio.FIRST_COMPLETED)
        except asyncio.CancelledError:
            # Cancelling the batch only cancels this coroutine: the children would otherwise
            # be terminated by the parent close policy, skipping their cleanup (generation
            # left `processing`, compute task left running). Cancel them and wait for it.
            await self._cancel(running, queue)
            raise
        self._progress.running = 0
        workflow.upsert_search_attributes([STATUS.value_set("completed")])
        return self._progress

    async def _cancel(
        self, running: list[asyncio.Task[None]], queue: list[PlannedGeneration]
    ) -> None:
        for task in running:
            task.cancel()
        if running:
            await workflow.wait(running)
        self._progress.running = 0
        # Planned but never started: end them `cancelled`, or they would wait as `pending`.
        for item in queue:
            await workflow.execute_activity_method(
                GenerationActivities.finish_generation,
                FinishInput(
                    generation_id=item.generation_id,
                    status="cancelled",
                    error_message="Batch cancelled before this generation started",
                    error_category="cancelled",
                ),
                start_to_close_timeout=timedelta(seconds=30),
                retry_policy=RetryPolicy(maximum_interval=timedelta(seconds=30)),
            )
            self._progress.cancelled += 1
        workflow.upsert_search_attributes([STATUS.value_set("cancelled")])

    async def _generate(self, batch: ShootingGenerationInput, item: PlannedGeneration) -> None:
        try:
            outcome = await workflow.execute_child_workflow(
                GenerationWorkflow.run,
                GenerationInput(generation_id=item.generation_id),
                id=f"generation-{item.generation_id}",
                # DESIGN §5: children of a batch run behind interactive generations.
                priority=Priority(
                    priority_key=PRIORITY_BATCH_CHILD,
                    fairness_key=fairness_key(batch.organization_id, batch.user_id),
                ),
                search_attributes=workflow.info().typed_search_attributes.updated(
                    SearchAttributePair(ENTITY_ID, item.generation_id),
                    SearchAttributePair(ENTITY_TYPE, "generation"),
                    SearchAttributePair(STATUS, "pending"),
                ),
            )
        except (ChildWorkflowError, asyncio.CancelledError):
            # The child was cancelled (or terminated); when the batch itself is being
            # cancelled, run() re-raises the cancellation after every child has ended.
            self._progress.cancelled += 1
            return
        if outcome == "failed":
            self._progress.failed += 1
        else:
            self._progress.completed += 1
