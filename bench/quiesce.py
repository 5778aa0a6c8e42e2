"""Keeping the product quiet between figures: its maintenance schedules paused for the whole
run (deleted at the end), and, before each figure, a bounded wait until no workflow is open
on the queues the bench's workers poll.

Why: a figure must measure one thing. A reconciler run restarting leftover generations, or
the previous figure's stragglers, on the same two cores made P5 take minutes instead of
seconds (issue 14). Visibility queries use only the built-in `ExecutionStatus` and
`TaskQueue` attributes: the custom ones are being renamed.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Callable, Sequence
from typing import Any

Log = Callable[[str], None]
PAUSE_NOTE = "paused by sartiq bench for the run: figures measure the product alone"
IDLE_WITHIN = 120.0
SCHEDULES_WITHIN = 60.0


def bench_schedule_ids(prefix: str) -> list[str]:
    """The ids of the schedules the bench's worker syncs at its start (workflows/schedules.py
    names them with the task-queue prefix, so the bench's are its own)."""
    from workflows.schedules import definitions, schedule_id

    return [schedule_id(job.name, prefix) for job in definitions(prefix)]


async def _describe(client: Any, schedule_id: str) -> Any | None:
    from temporalio.service import RPCError, RPCStatusCode

    try:
        return await client.get_schedule_handle(schedule_id).describe()
    except RPCError as error:
        if error.status != RPCStatusCode.NOT_FOUND:
            raise
        return None


async def pause_schedules(
    client: Any, prefix: str, log: Log, *, within: float = SCHEDULES_WITHIN
) -> list[str]:
    """Pause every schedule of the bench's prefix, waiting (bounded) until the worker's
    background sync has created each one; returns the ids paused. A pause survives a later
    sync (workflows/schedules.py keeps the live state), so a worker restart keeps them off."""
    deadline = time.monotonic() + within
    paused: list[str] = []
    missing: list[str] = []
    for sid in bench_schedule_ids(prefix):
        while (await _describe(client, sid)) is None:
            if time.monotonic() >= deadline:
                missing.append(sid)
                break
            await asyncio.sleep(0.5)
        else:
            await client.get_schedule_handle(sid).pause(note=PAUSE_NOTE)
            paused.append(sid)
    log(
        f"paused {len(paused)} schedule(s) for the run"
        + (f"; never created (worker's sync failed?): {', '.join(missing)}" if missing else "")
    )
    return paused


async def delete_schedules(client: Any, schedule_ids: Sequence[str], log: Log) -> None:
    """Delete the run's schedules: their prefix and database die with the run, and left on
    an external Temporal they would fire against a dropped database forever."""
    from temporalio.service import RPCError

    deleted = 0
    for sid in schedule_ids:
        with contextlib.suppress(RPCError):  # never created: nothing to delete
            await client.get_schedule_handle(sid).delete()
            deleted += 1
    log(f"deleted the run's {deleted} schedule(s)")


def open_query(queues: Sequence[str]) -> str:
    listed = ", ".join(f'"{q}"' for q in queues)
    return f'ExecutionStatus = "Running" AND TaskQueue IN ({listed})'


async def open_workflows(client: Any, queues: Sequence[str]) -> int:
    return int((await client.count_workflows(open_query(queues))).count)


async def wait_idle(
    client: Any,
    queues: Sequence[str],
    log: Log,
    label: str,
    *,
    within: float = IDLE_WITHIN,
    interval: float = 0.5,
) -> dict[str, float | int]:
    """Until no workflow is open on `queues` (bounded by `within`): what the worker is still
    running would be measured with the next figure. Returns how long it waited and how many
    were still open; logs any wait."""
    began = time.monotonic()
    first = left = await open_workflows(client, queues)
    while left and time.monotonic() - began < within:
        await asyncio.sleep(interval)
        left = await open_workflows(client, queues)
    waited = round(time.monotonic() - began, 2)
    if left:
        log(f"{label}: {left} workflow(s) still open after {within:.0f}s; measuring anyway")
    elif first:
        log(f"{label}: waited {waited:.1f}s for {first} open workflow(s) to end")
    return {"idle_wait_s": waited, "open_at_start": first, "open_left": left}


async def terminate_open(client: Any, queues: Sequence[str], reason: str) -> int:
    """Terminate every open workflow on `queues` (a baseline's own, left by an error): no
    baseline may leave work behind for the next figure. Returns how many it ended."""
    from temporalio.service import RPCError

    ids = [w.id async for w in client.list_workflows(open_query(queues))]

    async def one(workflow_id: str) -> bool:
        try:
            await client.get_workflow_handle(workflow_id).terminate(reason)
        except RPCError:  # already ended (visibility trails a termination): not counted
            return False
        return True

    ended = 0
    for start in range(0, len(ids), 50):
        ended += sum(await asyncio.gather(*(one(i) for i in ids[start : start + 50])))
    return ended


async def clean_baseline(client: Any, queues: Sequence[str], log: Log, label: str) -> None:
    """`terminate_open` from a `finally`: logged, and never masking the error that got us
    there (Temporal may be what failed)."""
    try:
        left = await terminate_open(client, queues, f"bench: {label} baseline left it open")
    except Exception as error:
        log(f"{label}: could not check for open baseline workflows: {error!r}")
        return
    if left:
        log(f"{label}: terminated {left} baseline workflow(s) left open")
