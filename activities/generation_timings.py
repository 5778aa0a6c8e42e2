"""The compute span of a finished task, noted on its generation as its result is fetched
(services/timings.py folds the marks into the generation's timings as it ends)."""

from __future__ import annotations

import uuid

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from core.compute import ComputeClient, ComputeError
from core.db import session_scope
from services import generations, timings


async def time_task(
    compute: ComputeClient, sessionmaker: async_sessionmaker[AsyncSession], task_id: str
) -> None:
    """Best effort: timings never fail a generation. The task's own timestamps (the
    server's clock) measure it; its entity names the generation (evaluations included).
    Each mark is written once, so a retried fetch changes nothing."""
    try:
        state = await compute.get_task(task_id)
        generation_id = uuid.UUID(state.entity_id or "")
    except (ComputeError, ValueError):
        return
    async with session_scope(sessionmaker) as session:
        try:
            generation = await generations.load_for_update(session, generation_id)
        except LookupError:
            return
        timings.mark_task(
            generation,
            task_id,
            started_at=state.started_at,
            completed_at=state.completed_at,
            created_at=state.created_at,
        )
