"""Side effects of ShootingGenerationWorkflow: the batch's plan, page by page, its
cancellation and its end (services/batch_plan.py holds the rules). Each is idempotent: a
page's generation ids derive from (batch, shot), and a batch that ended keeps its end."""

from __future__ import annotations

import asyncio
import contextlib
import uuid
from collections.abc import Callable
from typing import Any

from pydantic import ValidationError
from redis.asyncio import Redis
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from temporalio import activity
from temporalio.client import WorkflowFailureError, WorkflowHandle
from temporalio.exceptions import ApplicationError
from temporalio.service import RPCError, RPCStatusCode

from activities.generation_events import PendingEvent, emit, generation_event
from core.config import Settings
from core.db import session_scope
from models.generation import ShotGenerateRequest
from models.jobs import JobStatus
from services import batch_plan, batches, generations, run_labels
from services.tenancy import Scope
from workflows.batch_types import (
    BatchCounts,
    BatchPage,
    CancelRestInput,
    CancelRestResult,
    FinishBatchInput,
    FinishedBatch,
    PlanBatchInput,
    PlannedGeneration,
    PlanPageInput,
    ShotCursor,
)

# Failures no retry can fix (the workflow's retry policies name them too).
BATCH_GONE = "BatchGone"
INVALID_BATCH = "InvalidBatch"


def _non_retryable(error: Exception, kind: str) -> ApplicationError:
    return ApplicationError(str(error), type=kind, non_retryable=True)


# A generation cancel_rest asks to cancel is not one of the window's children (those were
# cancelled and waited for): a child whose start the cancel overtook, or a generation a person
# retried. Its cleanup (compute task cancelled, row ended) must land before the batch's counts
# are read and before the batch's run closes, whose parent-close policy would terminate a
# child mid-cleanup and leave its row `processing` (the chaos batch caught a row ending after
# the counts). Bounded, well inside the activity's 2-minute timeout: a cleanup stuck longer
# (compute or Postgres down) is counted as it stands rather than holding the batch.
CANCELLED_RUNS_WAIT_SECONDS = 90.0


async def _until_closed(handles: list[WorkflowHandle[Any, Any]], *, within: float) -> None:
    async def closed(handle: WorkflowHandle[Any, Any]) -> None:
        # How the run ended is its own business (cancelled, failed, terminated, gone).
        with contextlib.suppress(WorkflowFailureError, RPCError):
            await handle.result()

    if not handles:
        return
    try:
        await asyncio.wait_for(asyncio.gather(*(closed(h) for h in handles)), timeout=within)
    except TimeoutError:
        activity.logger.warning(
            "%d cancelled generation run(s) still open after %.0fs", len(handles), within
        )


class BatchActivities:
    """Built once per worker with its clients."""

    def __init__(
        self,
        *,
        settings: Settings,
        sessionmaker: async_sessionmaker[AsyncSession],
        redis: Redis,
    ) -> None:
        self.settings = settings
        self.sessionmaker = sessionmaker
        self.redis = redis

    @activity.defn(name="batch.plan_page")
    async def plan_page(self, data: PlanPageInput) -> BatchPage:
        """The next page of shots after the cursor, with their pending generations."""
        after = (
            (uuid.UUID(data.after.look_id), uuid.UUID(data.after.shot_id)) if data.after else None
        )
        try:
            async with session_scope(self.sessionmaker) as session:
                batch = await batch_plan.load_for_update(session, uuid.UUID(data.batch_id))
                page = await batch_plan.plan_page(
                    session,
                    batch,
                    after=after,
                    limit=data.limit,
                    completed=data.counts.completed,
                    failed=data.counts.failed,
                    cancelled=data.counts.cancelled,
                    skipped=data.counts.skipped,
                )
                labels = await run_labels.generation_summaries(session, [s for _, s in page.items])
        except batch_plan.BatchGone as error:
            raise _non_retryable(error, BATCH_GONE) from None
        except batch_plan.InvalidBatch as error:
            raise _non_retryable(error, INVALID_BATCH) from None
        return BatchPage(
            items=[
                PlannedGeneration(generation_id=str(g), shot_id=str(s), label=labels.get(s))
                for g, s in page.items
            ],
            cursor=ShotCursor(look_id=str(page.last[0]), shot_id=str(page.last[1]))
            if page.last
            else None,
            skipped=page.skipped,
            done=page.done,
            total=page.total,
        )

    @activity.defn(name="batch.cancel_rest")
    async def cancel_rest(self, data: CancelRestInput) -> CancelRestResult:
        """After the window's children were cancelled: the batch's generations that never
        started end `cancelled`, and any still processing (none of the window's; one a
        person retried, say) has its workflow asked to cancel."""
        batch_id = uuid.UUID(data.batch_id)
        pending: list[PendingEvent | None] = []
        async with session_scope(self.sessionmaker) as session:
            cancelled = await batches.cancel_pending(session, batch_id)
            for generation in cancelled:
                pending.append(
                    await generation_event(self.settings, session, generation, "cancelled")
                )
            running = await batch_plan.processing_ids(session, batch_id)
        await emit(self.redis, pending)
        client = activity.client()
        asked = []
        for generation_id in running:
            handle = client.get_workflow_handle(generations.workflow_id(generation_id))
            try:
                await handle.cancel()
            except RPCError as error:
                if error.status != RPCStatusCode.NOT_FOUND:
                    raise
                continue
            asked.append(handle)
        await _until_closed(asked, within=CANCELLED_RUNS_WAIT_SECONDS)
        return CancelRestResult(cancelled=len(cancelled), cancel_requested=len(running))

    @activity.defn(name="batch.finish")
    async def finish(self, data: FinishBatchInput) -> FinishedBatch:
        async with session_scope(self.sessionmaker) as session:
            batch = await batch_plan.finish(
                session,
                uuid.UUID(data.batch_id),
                status=JobStatus(data.status),
                skipped=data.counts.skipped,
                planned_all=data.planned_all,
                error_message=data.error_message,
            )
        if batch is None:  # gone with its shooting: the workflow's own counts stand
            return FinishedBatch(status=data.status, total=0, counts=data.counts)
        return FinishedBatch(
            status=batch.status.value,
            total=batch.total,
            counts=BatchCounts(
                completed=batch.completed,
                failed=batch.failed,
                cancelled=batch.cancelled,
                skipped=batch.skipped,
            ),
        )

    @activity.defn(name="generation.plan_batch")
    async def plan_batch_legacy(self, data: PlanBatchInput) -> list[PlannedGeneration]:
        """The plan of a run started before batch rows existed (no `batch_id`): every shot
        at once, generation ids from the run id. Kept while such runs may exist."""
        batch = data.batch
        scope = Scope(
            user_id=uuid.UUID(batch.user_id),
            organization_id=uuid.UUID(batch.organization_id) if batch.organization_id else None,
            role=None,
        )
        try:
            request = ShotGenerateRequest.model_validate(batch.request)
        except ValidationError as error:
            raise ApplicationError(
                f"invalid batch request: {error}", type="InvalidConfig", non_retryable=True
            ) from None
        async with session_scope(self.sessionmaker) as session:
            planned = await batch_plan.plan_legacy(
                session,
                scope,
                shooting_id=uuid.UUID(batch.shooting_id),
                look_id=uuid.UUID(batch.look_id) if batch.look_id else None,
                request=request,
                run_id=data.run_id,
                only_missing=batch.only_missing,
            )
        return [PlannedGeneration(generation_id=str(g), shot_id=str(s)) for g, s in planned]

    def activities(self) -> list[Callable[..., Any]]:
        return [self.plan_page, self.cancel_rest, self.finish, self.plan_batch_legacy]
