"""GenerationWorkflow's rules for ending: how a failure is named (error_category) and how
long what follows the compute task may take. Deterministic (workflow.now only)."""

from __future__ import annotations

from datetime import datetime, timedelta

from temporalio import workflow
from temporalio.exceptions import ActivityError, ApplicationError, RetryState
from temporalio.exceptions import TimeoutError as ActivityTimeout

with workflow.unsafe.imports_passed_through():
    from workflows.types import GenerationPlan

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


def cause_message(error: ActivityError) -> str:
    cause = error.cause
    if isinstance(cause, ApplicationError):
        return cause.message
    return str(cause or error)
