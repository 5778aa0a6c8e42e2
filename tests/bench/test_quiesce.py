"""The bench keeps the product quiet around its figures, on the session's Temporal: the
schedules a worker syncs for the bench's prefix get paused (even when the sync comes after
the bench asked) and deleted at the end, and the idle wait sees open work on the bench's
queues, is bounded, and ends once that work is gone."""

from __future__ import annotations

import asyncio
import uuid

from temporalio.client import Client
from temporalio.service import RPCError, RPCStatusCode

from bench import quiesce
from bench.bare import BareInput, BareWorkflow
from core.config import Settings
from core.temporal import TASK_QUEUES
from workflows.schedules import sync_schedules


async def test_schedules_are_paused_then_deleted(temporal: Client, settings: Settings) -> None:
    prefix = f"bench-test-{uuid.uuid4().hex[:8]}-"
    lines: list[str] = []
    ids = quiesce.bench_schedule_ids(prefix)
    try:
        # The worker syncs its schedules in the background after it starts polling: the
        # bench may ask first, and must wait for them rather than pause nothing.
        pausing = asyncio.create_task(quiesce.pause_schedules(temporal, prefix, lines.append))
        await asyncio.sleep(1.0)
        await sync_schedules(temporal, settings, prefix=prefix)
        assert sorted(await pausing) == sorted(ids)
        for sid in ids:
            state = (await temporal.get_schedule_handle(sid).describe()).schedule.state
            assert state.paused and state.note == quiesce.PAUSE_NOTE
        # A later sync (a worker restart) keeps them paused.
        await sync_schedules(temporal, settings, prefix=prefix)
        assert (await temporal.get_schedule_handle(ids[0]).describe()).schedule.state.paused
    finally:
        await quiesce.delete_schedules(temporal, ids, lines.append)
        queues = [prefix + q for q in TASK_QUEUES]
        await quiesce.terminate_open(temporal, queues, "test over")
    for sid in ids:
        try:
            await temporal.get_schedule_handle(sid).describe()
            raise AssertionError(f"{sid} still exists")
        except RPCError as error:
            assert error.status == RPCStatusCode.NOT_FOUND
    assert f"paused {len(ids)} schedule(s) for the run" in lines
    assert f"deleted the run's {len(ids)} schedule(s)" in lines


async def test_idle_wait_sees_open_work_and_is_bounded(temporal: Client) -> None:
    queue = f"bench-test-{uuid.uuid4().hex[:8]}-bench-bare"
    lines: list[str] = []
    # No worker polls this queue: the run stays open until terminated.
    await temporal.start_workflow(
        BareWorkflow.run,
        BareInput(before=0, signals=1, after=0),
        id=f"bench-test-open-{uuid.uuid4()}",
        task_queue=queue,
    )
    try:
        for _ in range(100):  # visibility trails the start
            if await quiesce.open_workflows(temporal, [queue]):
                break
            await asyncio.sleep(0.1)
        waited = await quiesce.wait_idle(temporal, [queue], lines.append, "T", within=1.0)
        assert waited["open_at_start"] == 1 and waited["open_left"] == 1
        assert 1.0 <= waited["idle_wait_s"] < 5
        assert lines == ["T: 1 workflow(s) still open after 1s; measuring anyway"]
    finally:
        assert await quiesce.terminate_open(temporal, [queue], "test over") == 1
    waited = await quiesce.wait_idle(temporal, [queue], lines.append, "T", within=30)
    assert waited["open_left"] == 0
    # Another queue's open work is not the bench's business.
    assert await quiesce.open_workflows(temporal, [queue + "-other"]) == 0
