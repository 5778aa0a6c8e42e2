"""Maintenance side effects: database housekeeping run by scheduled workflows (expired
sessions, the daily usage report, and the reconciler of generations that lost their
workflow)."""

from __future__ import annotations

import uuid
from datetime import UTC, date, datetime, timedelta

from redis.asyncio import Redis
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from temporalio import activity
from temporalio.client import Client, WorkflowExecutionStatus
from temporalio.service import RPCError, RPCStatusCode

from core import events
from core.config import Settings
from core.db import session_scope
from core.starts import shooting_generation_id, start_generation
from core.temporal import PRIORITY_BATCH_CHILD, PRIORITY_INTERACTIVE, ui_url
from models.generation import Generation, GenerationStatus
from models.shooting_generation import batch_workflow_id
from services import auth, generations, maintenance, run_labels, usage
from workflows.maintenance_types import (
    ReconcileInput,
    ReconcileResult,
    UsageReportInput,
    UsageReportResult,
)
from workflows.types import SessionCleanupInput, SessionCleanupResult

WORKFLOW_LOST = "workflow_lost"


async def workflow_state(client: Client, workflow_id: str) -> str:
    """`running`, `closed` (any end, including terminated or timed out) or `missing`."""
    try:
        description = await client.get_workflow_handle(workflow_id).describe()
    except RPCError as error:
        if error.status == RPCStatusCode.NOT_FOUND:
            return "missing"
        raise
    return "running" if description.status == WorkflowExecutionStatus.RUNNING else "closed"


class MaintenanceActivities:
    """Built once per worker with its database sessionmaker (and Redis, for events)."""

    def __init__(
        self,
        sessionmaker: async_sessionmaker[AsyncSession],
        *,
        redis: Redis | None = None,
        settings: Settings | None = None,
    ) -> None:
        self._sessionmaker = sessionmaker
        self._redis = redis
        self._settings = settings

    @activity.defn(name="delete_expired_sessions")
    async def delete_expired_sessions(self, data: SessionCleanupInput) -> SessionCleanupResult:
        """Idempotent: a retry deletes what is left, never anything newer than the cutoff."""
        async with session_scope(self._sessionmaker) as session:
            deleted = await auth.delete_expired_sessions(
                session, older_than=timedelta(hours=data.retention_hours)
            )
        activity.logger.info("deleted %d expired sessions", deleted)
        return SessionCleanupResult(deleted=deleted)

    # -- usage report ----------------------------------------------------------------------

    @activity.defn(name="maintenance.write_usage_report")
    async def write_usage_report(self, data: UsageReportInput) -> UsageReportResult:
        """Recomputes the whole day each time: a retry or a rerun converges."""
        assert data.report_date, "the workflow resolves the date"
        day = date.fromisoformat(data.report_date)
        async with session_scope(self._sessionmaker) as session:
            figures = await usage.compute(session, day)
            rows = await usage.write(session, day, figures)
        return UsageReportResult(report_date=day.isoformat(), rows=rows)

    # -- stuck-generation reconciler -------------------------------------------------------

    @activity.defn(name="maintenance.reconcile_generations")
    async def reconcile_generations(self, data: ReconcileInput) -> ReconcileResult:
        """Policy (why): a *pending* generation whose workflow is missing or closed never
        ran (the API's start failed, or it was terminated before it began) — starting it is
        safe and is what the user asked for. A *processing* one whose workflow is gone was
        cut off mid-way (terminated, timed out, history lost): its compute task may or may
        not have run, so it is failed with `workflow_lost` and the user can retry it,
        rather than silently spending compute again. Batch children still waiting for their
        running batch are the batch's business and are left alone."""
        client = activity.client()
        now = datetime.now(UTC)
        ids = [uuid.UUID(i) for i in data.generation_ids] if data.generation_ids else None
        async with self._sessionmaker() as session:
            candidates = await maintenance.stuck_generations(
                session,
                pending_before=now - timedelta(seconds=data.pending_after_seconds),
                processing_before=now - timedelta(seconds=data.processing_after_seconds),
                limit=data.batch_size,
                ids=ids,
            )
        alive = restarted = failed = left = 0
        for generation in candidates:
            activity.heartbeat(str(generation.id))
            workflow_id = generation.workflow_id or generations.workflow_id(generation.id)
            if await workflow_state(client, workflow_id) == "running":
                alive += 1
            elif generation.status == GenerationStatus.PENDING:
                if await self._batch_running(client, generation):
                    left += 1
                    continue
                async with self._sessionmaker() as session:
                    label = await run_labels.generation(session, generation)
                await start_generation(
                    client,
                    label=label,
                    generation_id=generation.id,
                    organization_id=generation.organization_id,
                    owner_id=generation.owner_id,
                    shooting_id=generation.shooting_id,
                    priority_key=PRIORITY_BATCH_CHILD
                    if generation.autogenerated
                    else PRIORITY_INTERACTIVE,
                    task_queue_prefix=data.task_queue_prefix,
                )
                activity.logger.warning("restarted pending generation %s", generation.id)
                restarted += 1
            elif await self._fail_lost(generation.id):
                activity.logger.warning("failed generation %s: workflow lost", generation.id)
                failed += 1
        return ReconcileResult(
            checked=len(candidates),
            alive=alive,
            restarted=restarted,
            failed=failed,
            left_to_batch=left,
        )

    async def _batch_running(self, client: Client, generation: Generation) -> bool:
        """A batch plans its generations a page ahead and starts them a few at a time: the
        ones still waiting have no workflow yet, and that is fine while the batch runs."""
        if generation.shooting_generation_id is not None:
            batch = batch_workflow_id(generation.shooting_generation_id)
            return await workflow_state(client, batch) == "running"
        if not generation.autogenerated or generation.shooting_id is None:
            return False
        # A batch started before batch rows existed: one run per shooting (or look).
        batch_ids = [shooting_generation_id(generation.shooting_id, None)]
        if generation.look_id is not None:
            batch_ids.append(shooting_generation_id(generation.shooting_id, generation.look_id))
        for batch_id in batch_ids:
            if await workflow_state(client, batch_id) == "running":
                return True
        return False

    async def _fail_lost(self, generation_id: uuid.UUID) -> bool:
        """Fail it if it is still processing now (its workflow is closed, so nothing else
        writes it; re-read under a lock all the same)."""
        async with session_scope(self._sessionmaker) as session:
            generation = await generations.load_for_update(session, generation_id)
            if generation.status != GenerationStatus.PROCESSING:
                return False
            await generations.finish(
                session,
                generation,
                status=GenerationStatus.FAILED,
                error_message="The generation's workflow ended without finishing it",
                error_category=WORKFLOW_LOST,
            )
            await session.flush()
            await self._announce_failed(session, generation)
        return True

    async def _announce_failed(self, session: AsyncSession, generation: Generation) -> None:
        if self._redis is None:
            return
        settings = self._settings
        (public,) = await generations.publics(
            session, [generation], ui_url=lambda wid: ui_url(settings, wid) if settings else None
        )
        await events.publish(
            self._redis,
            type="generation.failed",
            payload=public.model_dump(mode="json"),
            organization_id=generation.organization_id,
            user_id=generation.owner_id,
            dedupe_key=f"generation:{generation.id}:{generation.attempt}:failed",
        )
