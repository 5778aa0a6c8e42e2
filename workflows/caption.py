"""CaptionWorkflow: ask compute for a caption of a media resource and fill `caption`,
`alt_text` (and the product's description) only where they are empty.

The run has a deadline (CAPTION_DEADLINE_SECONDS, in the start input) that bounds every
activity; a compute task that never ends is cancelled (best effort) once it has passed, and
the run fails with a message naming the deadline.
"""

from __future__ import annotations

import contextlib
from datetime import datetime, timedelta

from temporalio import workflow
from temporalio.exceptions import ActivityError, ApplicationError

with workflow.unsafe.imports_passed_through():
    from activities.caption import CaptionActivities
    from workflows.caption_types import ApplyCaptionInput, CaptionInput, CaptionResult
    from workflows.deadlines import DeadlineExceeded, message, out_of_time, passed, remaining
    from workflows.retry_policies import BEST_EFFORT, PERSISTENT
    from workflows.run_status import ends_with_status, set_status, show
    from workflows.types import ComputeEvent, TaskSnapshot

SHORT = timedelta(seconds=30)
POLL_EVERY = timedelta(seconds=10)
# The deadline of a run whose input carries none (started before the setting existed).
DEFAULT_DEADLINE_SECONDS = 30 * 60
# At the deadline: cancel the task and fail (before: ended `completed` with no caption);
# at every end: the SartiqStatus search attribute says how the run ended.
RUN_ENDS_PATCH = "caption-run-ends"


@workflow.defn(name="CaptionWorkflow")
class CaptionWorkflow:
    def __init__(self) -> None:
        self._finished: set[str] = set()
        self._task_id: str | None = None

    @workflow.signal(name="compute_event")
    def compute_event(self, event: ComputeEvent) -> None:
        """A hint that the task ended; the result is fetched either way."""
        if event.event_type in ("task.completed", "task.failed", "task.cancelled"):
            self._finished.add(event.task_id)

    @workflow.run
    @ends_with_status
    async def run(self, data: CaptionInput) -> CaptionResult:
        show("asking compute for a caption")
        seconds = data.deadline_seconds or DEFAULT_DEADLINE_SECONDS
        exceeded = DeadlineExceeded(message("caption", "CAPTION_DEADLINE_SECONDS", seconds))
        # Fixed at the start; a run without one in its input counted from after the submit.
        deadline = workflow.now() + timedelta(seconds=seconds) if data.deadline_seconds else None
        try:
            result = await self._caption(data, deadline, exceeded)
        except ActivityError as error:
            if not (out_of_time(error, deadline) and workflow.patched(RUN_ENDS_PATCH)):
                self._end("failed")
                raise
        except DeadlineExceeded:
            pass
        else:
            self._end("completed")
            return result
        if self._task_id is not None:
            await self._cancel_task(self._task_id)
        self._end("failed")
        raise ApplicationError(exceeded.message, type="DeadlineExceeded", non_retryable=True)

    async def _caption(
        self, data: CaptionInput, deadline: datetime | None, exceeded: DeadlineExceeded
    ) -> CaptionResult:
        self._task_id = task_id = await workflow.execute_activity_method(
            CaptionActivities.submit_caption,
            data,
            start_to_close_timeout=SHORT,
            schedule_to_close_timeout=remaining(deadline),
            retry_policy=PERSISTENT,
        )
        if deadline is None:
            deadline = workflow.now() + timedelta(seconds=DEFAULT_DEADLINE_SECONDS)
        while True:
            snapshot: TaskSnapshot = await workflow.execute_activity_method(
                CaptionActivities.caption_status,
                task_id,
                start_to_close_timeout=SHORT,
                schedule_to_close_timeout=remaining(deadline),
                retry_policy=PERSISTENT,
            )
            if snapshot.status in ("completed", "failed", "cancelled"):
                break
            if passed(deadline):
                if not workflow.patched(RUN_ENDS_PATCH):
                    return CaptionResult(caption=None, filled=[])  # recorded before the patch
                raise exceeded
            # Never sleeps past the deadline (a run without one in its input: as recorded).
            wait = min(POLL_EVERY, deadline - workflow.now()) if data.deadline_seconds else None
            with contextlib.suppress(TimeoutError):  # quiet: poll again
                await workflow.wait_condition(
                    lambda: task_id in self._finished, timeout=wait or POLL_EVERY
                )
        if snapshot.status != "completed":
            workflow.logger.warning("caption task %s ended %s", task_id, snapshot.status)
            return CaptionResult(caption=None, filled=[])
        text: str | None = await workflow.execute_activity_method(
            CaptionActivities.caption_text,
            task_id,
            start_to_close_timeout=SHORT,
            schedule_to_close_timeout=remaining(deadline),
            retry_policy=PERSISTENT,
        )
        if not text:
            return CaptionResult(caption=None, filled=[])
        filled: list[str] = await workflow.execute_activity_method(
            CaptionActivities.apply_caption,
            ApplyCaptionInput(media_id=data.media_id, product_id=data.product_id, text=text),
            start_to_close_timeout=SHORT,
            schedule_to_close_timeout=remaining(deadline),
            retry_policy=PERSISTENT,
        )
        return CaptionResult(caption=text, filled=filled)

    async def _cancel_task(self, task_id: str) -> None:
        """Best effort: the run fails either way; compute may already have ended the task."""
        try:
            await workflow.execute_activity_method(
                CaptionActivities.cancel_caption,
                task_id,
                start_to_close_timeout=SHORT,
                retry_policy=BEST_EFFORT,
            )
        except ActivityError as error:
            workflow.logger.warning("caption task %s not cancelled: %s", task_id, error.cause)

    def _end(self, status: str) -> None:
        if workflow.patched(RUN_ENDS_PATCH):
            set_status(status)
