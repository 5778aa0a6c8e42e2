"""CaptionWorkflow: ask compute for a caption of a media resource and fill `caption`,
`alt_text` (and the product's description) only where they are empty."""

from __future__ import annotations

import contextlib
from datetime import timedelta

from temporalio import workflow
from temporalio.common import RetryPolicy

with workflow.unsafe.imports_passed_through():
    from activities.caption import CaptionActivities
    from workflows.caption_types import ApplyCaptionInput, CaptionInput, CaptionResult
    from workflows.types import ComputeEvent, TaskSnapshot

SHORT = timedelta(seconds=30)
RETRY = RetryPolicy(initial_interval=timedelta(seconds=1), maximum_interval=timedelta(seconds=30))
POLL_EVERY = timedelta(seconds=10)
DEADLINE = timedelta(minutes=30)


@workflow.defn(name="CaptionWorkflow")
class CaptionWorkflow:
    def __init__(self) -> None:
        self._finished: set[str] = set()

    @workflow.signal(name="compute_event")
    def compute_event(self, event: ComputeEvent) -> None:
        """A hint that the task ended; the result is fetched either way."""
        if event.event_type in ("task.completed", "task.failed", "task.cancelled"):
            self._finished.add(event.task_id)

    @workflow.run
    async def run(self, data: CaptionInput) -> CaptionResult:
        task_id: str = await workflow.execute_activity_method(
            CaptionActivities.submit_caption, data, start_to_close_timeout=SHORT, retry_policy=RETRY
        )
        deadline = workflow.now() + DEADLINE
        while True:
            snapshot: TaskSnapshot = await workflow.execute_activity_method(
                CaptionActivities.caption_status,
                task_id,
                start_to_close_timeout=SHORT,
                retry_policy=RETRY,
            )
            if snapshot.status in ("completed", "failed", "cancelled"):
                break
            if workflow.now() >= deadline:
                return CaptionResult(caption=None, filled=[])
            with contextlib.suppress(TimeoutError):  # quiet: poll again
                await workflow.wait_condition(lambda: task_id in self._finished, timeout=POLL_EVERY)
        if snapshot.status != "completed":
            workflow.logger.warning("caption task %s ended %s", task_id, snapshot.status)
            return CaptionResult(caption=None, filled=[])
        text: str | None = await workflow.execute_activity_method(
            CaptionActivities.caption_text,
            task_id,
            start_to_close_timeout=SHORT,
            retry_policy=RETRY,
        )
        if not text:
            return CaptionResult(caption=None, filled=[])
        filled: list[str] = await workflow.execute_activity_method(
            CaptionActivities.apply_caption,
            ApplyCaptionInput(media_id=data.media_id, product_id=data.product_id, text=text),
            start_to_close_timeout=SHORT,
            retry_policy=RETRY,
        )
        return CaptionResult(caption=text, filled=filled)
