"""What the Temporal UI shows of a run: the `SartiqStatus` search attribute, true at every
terminal state, and the run's current details.

`SartiqStatus` is the domain's status (a generation can end `failed` in a workflow that
completed). It was called `Status` until the UI (2.54) started showing a custom `Status`
in place of its own status column; runs started before the rename still carry `Status`,
which `set_status` clears the first time it writes the new one.

`ends_with_status` wraps every workflow's run method, so a run whose code did not set a
final status (an unexpected failure, a cancel between two steps, a run that found
nothing to do) still ends with one: the one mechanism, not a line per exit.

Only light imports: the workflow sandbox re-imports this module.
"""

from __future__ import annotations

import asyncio
import functools
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

from temporalio import workflow
from temporalio.common import SearchAttributeUpdate
from temporalio.exceptions import FailureError, is_cancelled_exception

with workflow.unsafe.imports_passed_through():
    from core.temporal import LEGACY_STATUS, STATUS

FINAL = frozenset({"completed", "failed", "cancelled"})
# workflow.patched id: the wrapper sets a final status where the run's own code did not.
STATUS_AT_END_PATCH = "sartiq-status-at-end"

R = TypeVar("R")


def set_status(status: str) -> None:
    """Upsert `SartiqStatus` (dropping a pre-rename `Status`, which would read stale)."""
    updates: list[SearchAttributeUpdate[Any]] = [STATUS.value_set(status)]
    if workflow.info().typed_search_attributes.get(LEGACY_STATUS) is not None:
        updates.append(LEGACY_STATUS.value_unset())
    workflow.upsert_search_attributes(updates)
    if status in FINAL:
        workflow.set_current_details(f"ended {status}")


def current_status() -> str | None:
    return workflow.info().typed_search_attributes.get(STATUS)


def show(progress: str, *, label: str | None = None) -> None:
    """The run's current details ("try 2 of 3 · 60 %"). A run continued as new has no
    static summary (continue-as-new does not carry it), so its details lead with the
    label it was given in its input."""
    continued = workflow.info().continued_run_id is not None
    workflow.set_current_details(f"**{label}**\n\n{progress}" if label and continued else progress)


def _end(default: str) -> None:
    if current_status() in FINAL:
        return
    if workflow.patched(STATUS_AT_END_PATCH):
        set_status(default)


def ends_with_status(
    run: Callable[..., Awaitable[R]],
) -> Callable[..., Awaitable[R]]:
    """Decorates a workflow's run method (under `@workflow.run`): on every way out but
    continue-as-new, the run's `SartiqStatus` is final: the one its code set, else
    completed / cancelled / failed by how the run ends."""

    @functools.wraps(run)
    async def wrapper(self: Any, *args: Any) -> R:
        try:
            result = await run(self, *args)
        except asyncio.CancelledError:
            _end("cancelled")
            raise
        except FailureError as error:
            # A workflow failure (ApplicationError, or an activity/child error left to
            # propagate); other exceptions fail the task and are retried, not an end.
            _end("cancelled" if is_cancelled_exception(error) else "failed")
            raise
        _end("completed")
        return result

    return wrapper
