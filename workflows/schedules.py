"""The periodic jobs as Temporal Schedules, and their idempotent sync (client side).

`sync_schedules` runs at every worker start and from `sartiq schedules sync`: it creates each
schedule, or, when it already exists, updates it to the wanted definition if (and only if)
something differs. An operator's pause survives a sync. Ids and the task queue carry the
TASK_QUEUE_PREFIX, so previews and tests sharing one Temporal never touch each other's.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from temporalio.api.common.v1 import Payload
from temporalio.client import (
    Client,
    Schedule,
    ScheduleActionStartWorkflow,
    ScheduleAlreadyRunningError,
    ScheduleDescription,
    ScheduleIntervalSpec,
    ScheduleOverlapPolicy,
    SchedulePolicy,
    ScheduleSpec,
    ScheduleState,
    ScheduleUpdate,
    ScheduleUpdateInput,
)
from temporalio.common import Priority, SearchAttributePair, TypedSearchAttributes
from temporalio.service import RPCError, RPCStatusCode

from core.config import Settings
from core.temporal import ENTITY_TYPE, MAINTENANCE_QUEUE, PRIORITY_MAINTENANCE, STATUS
from workflows.maintenance import (
    GenerationReconcilerWorkflow,
    SessionCleanupWorkflow,
    UsageReportWorkflow,
)
from workflows.maintenance_types import (
    DeadLetterRetryInput,
    OrphanScanInput,
    ReconcileInput,
    UsageReportInput,
)
from workflows.media_cleanup import DeadLetterRetryWorkflow, OrphanScanWorkflow
from workflows.types import SessionCleanupInput

ID_PREFIX = "sartiq-"


@dataclass(frozen=True)
class JobDefinition:
    """One periodic job: what runs, how often, and how a missed or slow run is handled."""

    name: str
    workflow: Any  # the workflow's run method
    arg: Any
    every: timedelta
    # Interval specs count from the Unix epoch: `offset` places a daily run at 03:00 UTC.
    offset: timedelta | None = None
    jitter: timedelta | None = None
    # After an outage, missed runs within this window still happen (once: overlap SKIP);
    # older ones are dropped. Temporal's default would be a year of catch-up.
    catchup_window: timedelta = timedelta(minutes=10)
    # A stuck run would block every later one (overlap SKIP): bound the whole chain.
    execution_timeout: timedelta = timedelta(hours=1)
    summary: str = ""


def definitions(prefix: str = "") -> list[JobDefinition]:
    return [
        JobDefinition(
            name="dead-letter-retry",
            workflow=DeadLetterRetryWorkflow.run,
            arg=DeadLetterRetryInput(),
            every=timedelta(minutes=15),
            jitter=timedelta(minutes=1),
            catchup_window=timedelta(minutes=15),
            execution_timeout=timedelta(minutes=30),
            summary="Retry media deletions that failed",
        ),
        JobDefinition(
            name="orphan-scan",
            workflow=OrphanScanWorkflow.run,
            arg=OrphanScanInput(),
            every=timedelta(days=1),
            offset=timedelta(hours=3),
            jitter=timedelta(minutes=10),
            catchup_window=timedelta(hours=6),
            execution_timeout=timedelta(hours=12),
            summary="Delete orphaned media rows and objects, and expired temp uploads",
        ),
        JobDefinition(
            name="session-cleanup",
            workflow=SessionCleanupWorkflow.run,
            arg=SessionCleanupInput(),
            every=timedelta(hours=1),
            jitter=timedelta(minutes=5),
            catchup_window=timedelta(hours=1),
            execution_timeout=timedelta(minutes=30),
            summary="Delete expired and revoked refresh sessions",
        ),
        JobDefinition(
            name="usage-report",
            workflow=UsageReportWorkflow.run,
            arg=UsageReportInput(),
            every=timedelta(days=1),
            offset=timedelta(minutes=30),
            jitter=timedelta(minutes=5),
            # Late is fine for a report of yesterday, as long as it is still yesterday's.
            catchup_window=timedelta(hours=12),
            execution_timeout=timedelta(hours=1),
            summary="Daily usage per organization (previous UTC day)",
        ),
        JobDefinition(
            name="generation-reconciler",
            workflow=GenerationReconcilerWorkflow.run,
            arg=ReconcileInput(task_queue_prefix=prefix),
            every=timedelta(minutes=5),
            jitter=timedelta(seconds=30),
            catchup_window=timedelta(minutes=5),
            execution_timeout=timedelta(minutes=10),
            summary="Restart or fail generations whose workflow is gone",
        ),
    ]


def schedule_id(name: str, prefix: str = "") -> str:
    return f"{prefix}{ID_PREFIX}{name}"


def entity_type(name: str) -> str:
    return name.replace("-", "_")


def build_schedule(job: JobDefinition, *, prefix: str = "") -> Schedule:
    return Schedule(
        action=ScheduleActionStartWorkflow(
            job.workflow,
            job.arg,
            # The schedule appends the scheduled time to this id for each run.
            id=f"{prefix}{job.name}",
            task_queue=prefix + MAINTENANCE_QUEUE,
            execution_timeout=job.execution_timeout,
            priority=Priority(priority_key=PRIORITY_MAINTENANCE),
            # Operators find a job's runs in the UI with `EntityType = "orphan_scan"`.
            typed_search_attributes=TypedSearchAttributes(
                [
                    SearchAttributePair(ENTITY_TYPE, entity_type(job.name)),
                    SearchAttributePair(STATUS, "running"),  # until the run ends (run_status)
                ]
            ),
            static_summary=job.summary or None,
        ),
        # What the schedule is for, in the UI's schedule list (a pause replaces it with its
        # reason).
        state=ScheduleState(note=f"{job.summary} (kept in sync by the worker)"),
        spec=ScheduleSpec(
            intervals=[ScheduleIntervalSpec(every=job.every, offset=job.offset)],
            jitter=job.jitter,
        ),
        policy=SchedulePolicy(
            overlap=ScheduleOverlapPolicy.SKIP, catchup_window=job.catchup_window
        ),
    )


async def _fingerprint(client: Client, schedule: Schedule) -> tuple[Any, ...]:
    """What sync manages, comparable between a wanted schedule and a described one (whose
    action arguments come back as encoded payloads)."""
    action = schedule.action
    assert isinstance(action, ScheduleActionStartWorkflow)
    args = [
        a if isinstance(a, Payload) else (await client.data_converter.encode([a]))[0]
        for a in action.args
    ]
    spec = schedule.spec
    return (
        action.workflow,
        action.id,
        action.task_queue,
        action.execution_timeout,
        action.priority.priority_key,
        tuple(sorted((p.key.name, str(p.value)) for p in action.typed_search_attributes)),
        tuple(bytes(p.data) for p in args),
        tuple((i.every, i.offset or timedelta(0)) for i in spec.intervals),
        tuple(spec.cron_expressions),
        len(spec.calendars),
        spec.jitter or timedelta(0),
        schedule.policy.overlap,
        schedule.policy.catchup_window,
        schedule.policy.pause_on_failure,
    )


async def _differs(client: Client, wanted: Schedule, current: ScheduleDescription) -> bool:
    return await _fingerprint(client, wanted) != await _fingerprint(client, current.schedule)


async def sync_schedules(
    client: Client,
    settings: Settings,
    *,
    prefix: str | None = None,
    jobs: Sequence[JobDefinition] | None = None,
) -> dict[str, str]:
    """Create or update every schedule; returns {schedule id: created|updated|unchanged}."""
    prefix = settings.TASK_QUEUE_PREFIX if prefix is None else prefix
    outcome: dict[str, str] = {}
    for job in jobs if jobs is not None else definitions(prefix):
        sid = schedule_id(job.name, prefix)
        wanted = build_schedule(job, prefix=prefix)
        try:
            await client.create_schedule(sid, wanted)
            outcome[sid] = "created"
            continue
        except ScheduleAlreadyRunningError:
            pass
        outcome[sid] = "unchanged"

        async def update(
            current: ScheduleUpdateInput, sid: str = sid, wanted: Schedule = wanted
        ) -> ScheduleUpdate | None:
            if not await _differs(client, wanted, current.description):
                return None  # nothing to do: no update RPC, no new conflict token
            outcome[sid] = "updated"
            # Keep the live state (an operator's pause and its note); a schedule made
            # before notes existed gets its note.
            state = current.description.schedule.state
            if not state.note and not state.paused:
                state = dataclasses.replace(state, note=wanted.state.note)
            return ScheduleUpdate(schedule=dataclasses.replace(wanted, state=state))

        await client.get_schedule_handle(sid).update(update)
    return outcome


def describe_spec(schedule: Schedule) -> str:
    """`every 15m (+jitter 1m)` style, for `sartiq schedules list`."""
    parts = []
    for interval in schedule.spec.intervals:
        text = f"every {_duration(interval.every)}"
        if interval.offset:
            text += f" at +{_duration(interval.offset)}"
        parts.append(text)
    parts.extend(f"cron {c}" for c in schedule.spec.cron_expressions)
    if schedule.spec.jitter:
        parts.append(f"jitter {_duration(schedule.spec.jitter)}")
    if schedule.policy.catchup_window:
        parts.append(f"catch-up {_duration(schedule.policy.catchup_window)}")
    return ", ".join(parts)


def _duration(value: timedelta) -> str:
    seconds = int(value.total_seconds())
    for unit, size in (("d", 86_400), ("h", 3600), ("m", 60)):
        if seconds >= size and seconds % size == 0:
            return f"{seconds // size}{unit}"
    return f"{seconds}s"


@dataclass(frozen=True)
class ScheduleRow:
    name: str
    schedule_id: str
    spec: str
    next_run: str
    paused: bool | None  # None: the schedule does not exist (run `sartiq schedules sync`)


async def overview(
    client: Client, settings: Settings, *, prefix: str | None = None
) -> list[ScheduleRow]:
    """Each defined job's schedule as it is on the server (described one by one: the
    schedule list is eventually consistent, a describe is not)."""
    prefix = settings.TASK_QUEUE_PREFIX if prefix is None else prefix
    rows = []
    for job in definitions(prefix):
        sid = schedule_id(job.name, prefix)
        try:
            description = await client.get_schedule_handle(sid).describe()
        except RPCError as error:
            if error.status != RPCStatusCode.NOT_FOUND:
                raise
            rows.append(ScheduleRow(job.name, sid, "(missing)", "-", None))
            continue
        upcoming = description.info.next_action_times
        rows.append(
            ScheduleRow(
                name=job.name,
                schedule_id=sid,
                spec=describe_spec(description.schedule),
                next_run=upcoming[0].isoformat(timespec="seconds") if upcoming else "-",
                paused=description.schedule.state.paused,
            )
        )
    return rows


async def trigger(
    client: Client, settings: Settings, name: str, *, prefix: str | None = None
) -> str:
    """Run a job's schedule now (its overlap policy still applies); returns the schedule id."""
    prefix = settings.TASK_QUEUE_PREFIX if prefix is None else prefix
    names = [job.name for job in definitions(prefix)]
    if name not in names:
        raise KeyError(f"unknown schedule {name!r}; known: {', '.join(names)}")
    sid = schedule_id(name, prefix)
    await client.get_schedule_handle(sid).trigger()
    return sid
