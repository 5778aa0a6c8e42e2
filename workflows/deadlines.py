"""The deadline of a whole run (export, bulk upload, caption): fixed when the run starts,
carried as an absolute time (across continue-as-new too), and bounding every activity that
does the run's work through its schedule-to-close timeout. The activities that record how
the run ended (and its cleanup) are not bounded by it: they run after it has passed.

Deterministic: only workflow.now().
"""

from __future__ import annotations

from datetime import datetime, timedelta

from temporalio import workflow
from temporalio.exceptions import ActivityError, RetryState, TimeoutType
from temporalio.exceptions import TimeoutError as ActivityTimeout

# Temporal refuses a zero timeout: an activity scheduled at (or past) the deadline gets this.
MINIMUM = timedelta(seconds=1)


class DeadlineExceeded(Exception):
    """The run's deadline passed: it ends `failed` with this message."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


def message(what: str, setting: str, seconds: int | None) -> str:
    """The error a run past its deadline ends with: names the deadline and its setting."""
    limit = f"{seconds} s" if seconds is not None else "its time"
    return f"Deadline exceeded: the {what} did not finish within {limit} ({setting})"


def remaining(deadline: datetime | None) -> timedelta | None:
    """What is left of the deadline for one activity, retries included (None: no deadline,
    a run started before deadlines existed)."""
    if deadline is None:
        return None
    return max(deadline - workflow.now(), MINIMUM)


def passed(deadline: datetime | None) -> bool:
    return deadline is not None and workflow.now() >= deadline


def out_of_time(error: ActivityError, deadline: datetime | None) -> bool:
    """The activity ended because the run's deadline bounds it: its schedule-to-close
    timeout fired, or Temporal stopped retrying because the next attempt would start past
    it (reported with retry state TIMEOUT), or the deadline has simply passed meanwhile."""
    if deadline is None:
        return False
    cause = error.cause
    if isinstance(cause, ActivityTimeout) and cause.type == TimeoutType.SCHEDULE_TO_CLOSE:
        return True
    return error.retry_state == RetryState.TIMEOUT or passed(deadline)
