"""sync_schedules creates every schedule with its spec, a second sync changes nothing, a
changed definition is updated (an operator's pause survives), and the CLI drives it."""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import os
import uuid
from collections.abc import AsyncIterator
from datetime import timedelta

import pytest
from temporalio.client import Client, ScheduleActionStartWorkflow, ScheduleOverlapPolicy
from temporalio.service import RPCError
from typer.testing import CliRunner

from core.config import Settings, get_settings
from core.temporal import MAINTENANCE_QUEUE
from workflows.schedules import definitions, schedule_id, sync_schedules

EXPECTED = {
    "dead-letter-retry": ("DeadLetterRetryWorkflow", timedelta(minutes=15), None),
    "orphan-scan": ("OrphanScanWorkflow", timedelta(days=1), timedelta(hours=3)),
    "session-cleanup": ("SessionCleanupWorkflow", timedelta(hours=1), None),
    "usage-report": ("UsageReportWorkflow", timedelta(days=1), timedelta(minutes=30)),
    "generation-reconciler": ("GenerationReconcilerWorkflow", timedelta(minutes=5), None),
}


@pytest.fixture
async def prefix(mt_temporal: Client) -> AsyncIterator[str]:
    """A prefix no worker polls: a schedule that fires during the test starts a run that
    just waits. Its schedules are deleted afterwards."""
    value = f"sched-{uuid.uuid4().hex[:8]}-"
    yield value
    for name in EXPECTED:
        with contextlib.suppress(RPCError):
            await mt_temporal.get_schedule_handle(schedule_id(name, value)).delete()


async def test_sync_creates_then_changes_nothing_then_updates(
    mt_temporal: Client, settings: Settings, prefix: str
) -> None:
    first = await sync_schedules(mt_temporal, settings, prefix=prefix)
    assert set(first.values()) == {"created"} and len(first) == len(EXPECTED)

    for name, (workflow, every, offset) in EXPECTED.items():
        description = await mt_temporal.get_schedule_handle(schedule_id(name, prefix)).describe()
        schedule = description.schedule
        action = schedule.action
        assert isinstance(action, ScheduleActionStartWorkflow)
        assert action.workflow == workflow
        assert action.task_queue == prefix + MAINTENANCE_QUEUE
        assert action.execution_timeout is not None
        attributes = {p.key.name: p.value for p in action.typed_search_attributes}
        assert attributes == {"EntityType": name.replace("-", "_"), "SartiqStatus": "running"}
        # The schedule says what it is for (its note, in the UI's schedule list).
        assert schedule.state.note and "kept in sync by the worker" in schedule.state.note
        (interval,) = schedule.spec.intervals
        assert interval.every == every and interval.offset == offset
        assert schedule.spec.jitter is not None and schedule.spec.jitter < every
        assert schedule.policy.overlap == ScheduleOverlapPolicy.SKIP
        # Explicit, and far from Temporal's one-year default.
        assert schedule.policy.catchup_window is not None
        assert schedule.policy.catchup_window <= timedelta(hours=12)
        assert description.info.next_action_times

    before = {
        name: (await mt_temporal.get_schedule_handle(schedule_id(name, prefix)).describe()).info
        for name in EXPECTED
    }
    second = await sync_schedules(mt_temporal, settings, prefix=prefix)
    assert set(second.values()) == {"unchanged"}
    for name in EXPECTED:
        after = (await mt_temporal.get_schedule_handle(schedule_id(name, prefix)).describe()).info
        assert after.last_updated_at == before[name].last_updated_at

    # An operator pauses one; a release changes another's cadence.
    retry_id = schedule_id("dead-letter-retry", prefix)
    await mt_temporal.get_schedule_handle(retry_id).pause(note="investigating")
    jobs = [
        dataclasses.replace(job, every=timedelta(minutes=30))
        if job.name == "dead-letter-retry"
        else job
        for job in definitions(prefix)
    ]
    third = await sync_schedules(mt_temporal, settings, prefix=prefix, jobs=jobs)
    assert third[retry_id] == "updated"
    assert [v for k, v in third.items() if k != retry_id] == ["unchanged"] * (len(EXPECTED) - 1)
    updated = (await mt_temporal.get_schedule_handle(retry_id).describe()).schedule
    assert updated.spec.intervals[0].every == timedelta(minutes=30)
    assert updated.state.paused and updated.state.note == "investigating"


def test_cli_sync_list_and_trigger(settings: Settings, mt_temporal: Client) -> None:
    """`sartiq schedules sync|list|trigger` against the session's Temporal (a sync test:
    the CLI runs its own event loop)."""
    from cli import app

    prefix = f"cli-{uuid.uuid4().hex[:8]}-"
    previous = os.environ.get("TASK_QUEUE_PREFIX")
    os.environ["TASK_QUEUE_PREFIX"] = prefix
    get_settings.cache_clear()
    runner = CliRunner()
    try:
        synced = runner.invoke(app, ["schedules", "sync"])
        assert synced.exit_code == 0, synced.output
        assert synced.output.count("created") == len(EXPECTED)
        assert runner.invoke(app, ["schedules", "sync"]).output.count("unchanged") == len(EXPECTED)

        listed = runner.invoke(app, ["schedules", "list"])
        assert listed.exit_code == 0, listed.output
        for name in EXPECTED:
            assert name in listed.output
        assert "every 15m" in listed.output and "every 1d at +3h" in listed.output

        triggered = runner.invoke(app, ["schedules", "trigger", "usage-report"])
        assert triggered.exit_code == 0, triggered.output
        assert schedule_id("usage-report", prefix) in triggered.output
        unknown = runner.invoke(app, ["schedules", "trigger", "nope"])
        assert unknown.exit_code == 1
    finally:
        if previous is None:
            os.environ.pop("TASK_QUEUE_PREFIX", None)
        else:
            os.environ["TASK_QUEUE_PREFIX"] = previous
        get_settings.cache_clear()
        asyncio.run(_cleanup(settings, prefix))


async def _cleanup(settings: Settings, prefix: str) -> None:
    from core.temporal import connect

    client = await connect(settings)
    for job in definitions(prefix):
        with contextlib.suppress(RPCError):
            await client.get_schedule_handle(schedule_id(job.name, prefix)).delete()
    # The triggered run waits on a queue nobody polls: end it.
    async for run in client.list_workflows(f'TaskQueue = "{prefix}{MAINTENANCE_QUEUE}"'):
        with contextlib.suppress(RPCError):
            await client.get_workflow_handle(run.id, run_id=run.run_id).terminate("test over")
