"""GenerationWorkflow's steps around one compute task: submit, wait for its end (signals
first, a status poll whenever they go quiet, the deadline over all), report progress, and
cancel. A mixin of the workflow (its state lives on the workflow instance), kept apart so
the workflow's own module reads as the generation's process.
"""

from __future__ import annotations

import contextlib
from datetime import datetime, timedelta

from temporalio import workflow
from temporalio.exceptions import ActivityError, is_cancelled_exception

with workflow.unsafe.imports_passed_through():
    from activities.generation import GenerationActivities
    from workflows.generation_rules import (
        TERMINAL,
        GenerationFailed,
        bounded,
        details,
        out_of_time,
        overall,
        past_deadline,
    )
    from workflows.retry_policies import BEST_EFFORT, PERSISTENT
    from workflows.run_status import show
    from workflows.types import GenerationPlan, ProgressInput, SubmitTaskInput, TaskSnapshot

SHORT = timedelta(seconds=30)
# workflow.patched id: a compute task that cannot be cancelled no longer fails the run.
CANCEL_FAILURE_PATCH = "cancel-failure-keeps-outcome"
# How much progress must accumulate before it is written to the database and the socket.
PROGRESS_STEP = 0.25


class ComputeTaskSteps:
    _terminal: dict[str, TaskSnapshot]
    _task_progress: dict[str, float]
    _progress: float
    _reported_progress: float
    _try: int

    async def _submit(self, submit: SubmitTaskInput, deadline: datetime | None = None) -> str:
        return await workflow.execute_activity_method(
            GenerationActivities.submit_task,
            submit,
            start_to_close_timeout=SHORT,
            schedule_to_close_timeout=bounded(deadline) if deadline else None,
            retry_policy=PERSISTENT,
        )

    async def _cancel_submitted(self, submit: SubmitTaskInput) -> None:
        """A cancel landed while the task was being submitted: the task may exist already
        (the activity goes on without us). Submitting again under the same idempotency key
        finds it (or creates the only one there will be), so it can be cancelled."""
        with contextlib.suppress(ActivityError):
            await self._cancel_task(await self._submit(submit))

    async def _wait_for(
        self, task_id: str, plan: GenerationPlan, deadline: datetime
    ) -> TaskSnapshot:
        """Until the task ends: signals first, a status poll whenever they go quiet."""
        poll_every = timedelta(seconds=plan.poll_interval_seconds)
        while task_id not in self._terminal:
            remaining = deadline - workflow.now()
            if remaining <= timedelta(0):
                await self._cancel_task(task_id)
                raise GenerationFailed(past_deadline(plan), "deadline_exceeded")
            try:
                await workflow.wait_condition(
                    lambda: (
                        task_id in self._terminal
                        or self._overall(plan, task_id) - self._reported_progress >= PROGRESS_STEP
                    ),
                    timeout=min(poll_every, remaining),
                )
            except TimeoutError:  # the wait's own timeout: poll
                try:
                    snapshot: TaskSnapshot = await workflow.execute_activity_method(
                        GenerationActivities.poll_task,
                        task_id,
                        start_to_close_timeout=SHORT,
                        # Compute out of reach until the deadline: the loop fails it then.
                        schedule_to_close_timeout=bounded(deadline, grace=timedelta(0)),
                        retry_policy=PERSISTENT,
                    )
                except ActivityError as error:
                    if not out_of_time(error):
                        raise
                    continue
                if snapshot.status in TERMINAL:
                    self._terminal.setdefault(task_id, snapshot)
                else:
                    self._task_progress[task_id] = max(
                        self._task_progress.get(task_id, 0.0), snapshot.progress
                    )
            await self._report_progress(plan, task_id)
        return self._terminal[task_id]

    def _overall(self, plan: GenerationPlan, task_id: str) -> float:
        return overall(plan, self._try, self._task_progress.get(task_id, 0.0), self._progress)

    async def _report_progress(self, plan: GenerationPlan, task_id: str) -> None:
        self._progress = self._overall(plan, task_id)
        self._show(plan)
        if self._progress - self._reported_progress < PROGRESS_STEP:
            return
        self._reported_progress = self._progress
        await workflow.execute_activity_method(
            GenerationActivities.record_progress,
            ProgressInput(generation_id=plan.generation_id, progress=round(self._progress, 3)),
            start_to_close_timeout=SHORT,
            retry_policy=PERSISTENT,
        )

    async def _cancel_task(self, task_id: str) -> None:
        try:
            await workflow.execute_activity_method(
                GenerationActivities.cancel_task,
                task_id,
                start_to_close_timeout=SHORT,
                retry_policy=BEST_EFFORT,
            )
        except ActivityError as error:
            # Compute refused the cancel five times: the generation still ends as the user
            # (or the deadline) decided; its task's late result is ignored. Before the patch
            # such a failure turned a cancel into `failed` (compute_error).
            if is_cancelled_exception(error) or not workflow.patched(CANCEL_FAILURE_PATCH):
                raise
            workflow.logger.warning("compute task %s could not be cancelled: %s", task_id, error)

    def _show(self, plan: GenerationPlan) -> None:
        show(details(plan, self._try, self._progress))
