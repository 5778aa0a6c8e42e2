"""GenerationWorkflow's rules for ending: how a failure is named (error_category) and how
long what follows the compute task may take. Deterministic (workflow.now only)."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from temporalio import workflow
from temporalio.exceptions import ActivityError, ApplicationError, RetryState
from temporalio.exceptions import TimeoutError as ActivityTimeout

with workflow.unsafe.imports_passed_through():
    from workflows.types import ComputeEvent, GenerationPlan, TaskSnapshot

# Activities after the compute task are bounded by the generation's deadline plus this
# grace, so outputs of a task that finished just in time can still be stored.
AFTER_DEADLINE = timedelta(seconds=30)
# error_category of a generation that failed on an activity's error, by the error's type.
CATEGORIES = {
    "ComputeError": "compute_error",
    "BadOutput": "invalid_output",
    "MissingOutput": "missing_output",
    "OutputDownload": "output_download_error",
    "InvalidConfig": "invalid_config",
}


class GenerationFailed(Exception):
    def __init__(self, message: str, category: str) -> None:
        super().__init__(message)
        self.message = message
        self.category = category


def bounded(deadline: datetime, grace: timedelta = AFTER_DEADLINE) -> timedelta:
    """What is left of the generation's deadline (plus `grace`) for one activity, retries
    included; at least a second, since Temporal refuses a zero timeout."""
    return max(deadline + grace - workflow.now(), timedelta(seconds=1))


def past_deadline(plan: GenerationPlan) -> str:
    return f"No result within {plan.deadline_seconds}s"


def out_of_time(error: ActivityError) -> bool:
    """The activity ran out of its (deadline-bounded) time: a timeout, or retries stopped
    because the next one would start past the schedule-to-close bound (Temporal then
    reports the last attempt's error with retry state TIMEOUT)."""
    return isinstance(error.cause, ActivityTimeout) or error.retry_state == RetryState.TIMEOUT


def failure_category(error: ActivityError) -> str:
    cause = error.cause
    if out_of_time(error):
        return "deadline_exceeded"
    if isinstance(cause, ApplicationError) and cause.type in CATEGORIES:
        return CATEGORIES[cause.type]
    return "internal_error"


TERMINAL = frozenset({"completed", "failed", "cancelled"})
ENDED_EVENTS = ("task.completed", "task.failed", "task.cancelled")


def terminal_snapshot(event: ComputeEvent, progress: float) -> TaskSnapshot | None:
    """The task's end as an event tells it (None: the task goes on)."""
    if event.status not in TERMINAL and event.event_type not in ENDED_EVENTS:
        return None
    status = event.status or event.event_type.removeprefix("task.")
    return TaskSnapshot(
        task_id=event.task_id,
        status=status,
        progress=1.0 if status == "completed" else progress,
        error_message=event.error_message,
        error_category=event.error_category,
    )


# Compute's error categories that blame the provider (compute_sim: `provider_error`): a
# task failing with one is tried once more on the model's fallback provider.
PROVIDER_CATEGORIES = frozenset({"provider_error", "provider_unavailable", "provider_timeout"})
# workflow.patched id: a provider failure is retried once on the fallback provider.
FALLBACK_PATCH = "fallback-provider"


def provider_of(inputs: dict[str, Any]) -> str | None:
    model = inputs.get("model")
    return model.get("provider") if isinstance(model, dict) else None


def on_fallback(inputs: dict[str, Any], category: str | None) -> dict[str, Any] | None:
    """The task's inputs moved to the model's fallback provider, when the failure blames
    the provider and there is one to move to (None: the failure stands)."""
    model = inputs.get("model")
    if category not in PROVIDER_CATEGORIES or not isinstance(model, dict):
        return None
    fallback = model.get("fallback_provider")
    if not fallback or fallback == model.get("provider"):
        return None
    moved = {k: v for k, v in model.items() if k != "fallback_provider"}
    return {**inputs, "model": {**moved, "provider": fallback}}


def tries(plan: GenerationPlan) -> int:
    return plan.max_attempts if plan.generation_type == "AGENTIC" else 1


def overall(plan: GenerationPlan, try_number: int, task_progress: float, so_far: float) -> float:
    """Finished tries plus the running task's share, capped below 1 until done."""
    return max(so_far, min(0.99, ((try_number - 1) + task_progress) / tries(plan)))


def details(plan: GenerationPlan, try_number: int, progress: float) -> str:
    """The run's current details: "try 2 of 3 · 60 %" (a single try: "60 %")."""
    done = f"{round(progress * 100)} %"
    return f"try {max(try_number, 1)} of {tries(plan)} · {done}" if tries(plan) > 1 else done


def cause_message(error: ActivityError) -> str:
    cause = error.cause
    if isinstance(cause, ApplicationError):
        return cause.message
    return str(cause or error)
