"""GenerationWorkflow: one generation from submission to reviewed-ready images.

mark processing → submit the compute task → wait for its events (signals) with a polling
fallback and an overall deadline → fetch the result → store outputs as media → record
predictions → (AGENTIC: evaluate, retry below the threshold, keep the best) → a new shot
revision → completed. Failures end `failed`; a cancel request cancels the compute task and
ends `cancelled`.
"""

from __future__ import annotations

import asyncio
from datetime import datetime, timedelta

from temporalio import workflow
from temporalio.exceptions import ActivityError, is_cancelled_exception

with workflow.unsafe.imports_passed_through():
    from activities.generation import GenerationActivities
    from workflows.generation_rules import (
        FALLBACK_PATCH,
        GenerationFailed,
        bounded,
        cause_message,
        failure_category,
        on_fallback,
        out_of_time,
        past_deadline,
        provider_of,
        terminal_snapshot,
        tries,
    )
    from workflows.generation_tasks import SHORT, ComputeTaskSteps
    from workflows.retry_policies import FINAL_WRITE, PERSISTENT
    from workflows.run_status import ends_with_status, set_status, show
    from workflows.types import (
        CompleteInput,
        ComputeEvent,
        FinishInput,
        GenerationInput,
        GenerationPlan,
        GenerationProgress,
        RecordAndCompleteInput,
        RecordTryInput,
        StoreOutputsInput,
        SubmitTaskInput,
        TaskOutput,
        TaskSnapshot,
    )


# workflow.patched id: a single-try generation records its outputs and completes in one
# activity (record_and_complete) instead of record_try then complete.
RECORD_WITH_COMPLETE_PATCH = "single-try-records-with-complete"
CANCELLED = "Cancelled by request"


@workflow.defn(name="GenerationWorkflow")
class GenerationWorkflow(ComputeTaskSteps):
    def __init__(self) -> None:
        self._status = "pending"
        self._progress = 0.0
        self._reported_progress = 0.0
        self._try = 0
        self._task_id: str | None = None
        self._best_score: float | None = None
        self._terminal: dict[str, TaskSnapshot] = {}
        self._task_progress: dict[str, float] = {}
        self._providers: dict[int, str | None] = {}  # the provider of each try's task

    # -- messages ------------------------------------------------------------------------

    @workflow.signal(name="compute_event")
    def compute_event(self, event: ComputeEvent) -> None:
        """Events are hints: duplicates and reordering change nothing; a terminal state is
        kept for the task it names and confirmed by fetching the result."""
        ended = terminal_snapshot(event, self._progress)
        if ended is not None:
            self._terminal.setdefault(event.task_id, ended)
        elif event.progress is not None:
            previous = self._task_progress.get(event.task_id, 0.0)
            self._task_progress[event.task_id] = max(previous, event.progress)

    @workflow.query(name="progress")
    def progress(self) -> GenerationProgress:
        return GenerationProgress(
            status=self._status,
            progress=self._progress,
            try_number=self._try,
            task_id=self._task_id,
            best_score=self._best_score,
        )

    # -- the process -----------------------------------------------------------------------

    @workflow.run
    @ends_with_status
    async def run(self, data: GenerationInput) -> str:
        show("starting")
        try:
            plan: GenerationPlan = await workflow.execute_activity_method(
                GenerationActivities.mark_processing,
                data,
                start_to_close_timeout=SHORT,
                retry_policy=PERSISTENT,
            )
        except (asyncio.CancelledError, ActivityError) as error:
            # Cancelled before it got going (a cancel right after the start): the row must
            # not stay pending/processing behind a closed workflow.
            if is_cancelled_exception(error):
                await self._finish(data.generation_id, "cancelled", CANCELLED, "cancelled")
            raise
        if plan.already_finished:
            if plan.status:
                self._set_status(plan.status)  # a re-delivered start shows how it ended
            return "already_finished"
        self._set_status("processing")
        self._show(plan)
        deadline = workflow.now() + timedelta(seconds=plan.deadline_seconds)
        try:
            await self._generate(plan, deadline)
        except GenerationFailed as failure:
            await self._finish(plan.generation_id, "failed", failure.message, failure.category)
            return "failed"
        except asyncio.CancelledError:
            # Cleanup must run although the workflow is being cancelled.
            await self._finish(plan.generation_id, "cancelled", CANCELLED, "cancelled")
            raise
        except ActivityError as error:
            # A cancel that lands while an activity is in flight arrives as an ActivityError
            # caused by CancelledError (not as asyncio.CancelledError).
            if is_cancelled_exception(error):
                await self._finish(plan.generation_id, "cancelled", CANCELLED, "cancelled")
                raise
            # An activity that cannot succeed (a non-retryable error: compute lost the task,
            # an output cannot be downloaded, ...) ends the generation `failed` instead of
            # leaving it `processing` behind a failed workflow.
            category = failure_category(error)
            message = past_deadline(plan) if category == "deadline_exceeded" else None
            await self._finish(
                plan.generation_id, "failed", message or cause_message(error), category
            )
            return "failed"
        self._set_status("completed")
        return "completed"

    async def _generate(self, plan: GenerationPlan, deadline: datetime) -> None:
        best_try, best_score = 0, -1.0
        for try_number in range(1, tries(plan) + 1):
            self._try = try_number
            self._show(plan)
            output = await self._run_task(plan, "generation", try_number, deadline)
            # The predictions belong to the generation task, not to the evaluation after it.
            generation_task_id = self._task_id or ""
            if not output.images:
                raise GenerationFailed("Compute returned no images", "empty_result")
            stored = await workflow.execute_activity_method(
                GenerationActivities.store_outputs,
                StoreOutputsInput(
                    generation_id=plan.generation_id,
                    organization_id=plan.organization_id,
                    owner_id=plan.owner_id,
                    images=output.images,
                ),
                start_to_close_timeout=timedelta(minutes=5),
                schedule_to_close_timeout=bounded(deadline),
                heartbeat_timeout=timedelta(seconds=60),
                retry_policy=PERSISTENT,
            )
            score = None
            if plan.generation_type == "AGENTIC":
                evaluation = await self._run_task(
                    plan,
                    "evaluation",
                    try_number,
                    deadline,
                    inputs={"image_urls": [i.url for i in output.images]},
                )
                score = evaluation.score if evaluation.score is not None else 0.0
            record = RecordTryInput(
                generation_id=plan.generation_id,
                try_number=try_number,
                task_id=generation_task_id,
                outputs=stored,
                score=score,
            )
            # `tries` and `score` come from the plan and the evaluation, so this branch is
            # deterministic; histories from before the patch replay the two activities.
            if tries(plan) == 1 and score is None and workflow.patched(RECORD_WITH_COMPLETE_PATCH):
                await workflow.execute_activity_method(
                    GenerationActivities.record_and_complete,
                    RecordAndCompleteInput(
                        record=record,
                        complete=CompleteInput(
                            generation_id=plan.generation_id,
                            best_try=try_number,
                            provider=self._providers.get(try_number),
                        ),
                    ),
                    start_to_close_timeout=SHORT,
                    schedule_to_close_timeout=bounded(deadline),
                    retry_policy=PERSISTENT,
                )
                self._progress = 1.0
                return
            await workflow.execute_activity_method(
                GenerationActivities.record_try,
                record,
                start_to_close_timeout=SHORT,
                schedule_to_close_timeout=bounded(deadline),
                retry_policy=PERSISTENT,
            )
            if score is None or score > best_score:
                best_try, best_score = try_number, score if score is not None else 0.0
                self._best_score = score
            if score is None or score >= plan.min_confidence_score:
                break
        await workflow.execute_activity_method(
            GenerationActivities.complete_generation,
            CompleteInput(
                generation_id=plan.generation_id,
                best_try=best_try,
                best_score=self._best_score,
                provider=self._providers.get(best_try),
            ),
            start_to_close_timeout=SHORT,
            schedule_to_close_timeout=bounded(deadline),
            retry_policy=PERSISTENT,
        )
        self._progress = 1.0

    async def _run_task(
        self,
        plan: GenerationPlan,
        task_type: str,
        try_number: int,
        deadline: datetime,
        inputs: dict | None = None,
        *,
        fallback: bool = False,
    ) -> TaskOutput:
        """Submit one compute task, wait for it to end, and return its output; a task that
        failed on its provider runs once more on the model's fallback provider."""
        key = f"{plan.generation_id}:{plan.attempt}:{try_number}:{task_type}"
        submit = SubmitTaskInput(
            generation_id=plan.generation_id,
            task_type=task_type,
            idempotency_key=f"{key}:fallback" if fallback else key,
            try_number=try_number,
            inputs=inputs if inputs is not None else plan.inputs,
            num_outputs=plan.num_outputs if task_type == "generation" else 1,
            width=plan.width,
            height=plan.height,
            format=plan.format,
            sim=plan.sim,
        )
        try:
            task_id = await self._submit(submit, deadline)
        except asyncio.CancelledError:
            await self._cancel_submitted(submit)
            raise
        except ActivityError as error:
            if is_cancelled_exception(error):
                await self._cancel_submitted(submit)
                raise
            if out_of_time(error):
                raise GenerationFailed(past_deadline(plan), "deadline_exceeded") from error
            raise GenerationFailed(cause_message(error), "submission_error") from error
        self._task_id = task_id
        try:
            snapshot = await self._wait_for(task_id, plan, deadline)
        except (asyncio.CancelledError, ActivityError) as error:
            # Also when the cancel lands while a poll/progress activity is in flight.
            if is_cancelled_exception(error):
                await self._cancel_task(task_id)
            raise
        if task_type == "generation":
            self._providers[try_number] = provider_of(submit.inputs)
        moved = None if fallback else on_fallback(submit.inputs, snapshot.error_category)
        if snapshot.status == "failed" and moved and workflow.patched(FALLBACK_PATCH):
            workflow.logger.warning("provider failed; trying %s", provider_of(moved))
            return await self._run_task(
                plan, task_type, try_number, deadline, inputs=moved, fallback=True
            )
        if snapshot.status != "completed":
            raise GenerationFailed(
                snapshot.error_message or f"Compute task {snapshot.status}",
                snapshot.error_category or f"compute_{snapshot.status}",
            )
        return await workflow.execute_activity_method(
            GenerationActivities.fetch_result,
            task_id,
            start_to_close_timeout=SHORT,
            schedule_to_close_timeout=bounded(deadline),
            retry_policy=PERSISTENT,
        )

    async def _finish(self, generation_id: str, status: str, message: str, category: str) -> None:
        self._set_status(status)
        await workflow.execute_activity_method(
            GenerationActivities.finish_generation,
            FinishInput(
                generation_id=generation_id,
                status=status,
                error_message=message,
                error_category=category,
            ),
            start_to_close_timeout=SHORT,
            retry_policy=FINAL_WRITE,
        )

    def _set_status(self, status: str) -> None:
        self._status = status
        set_status(status)
