"""The realtime events of GenerationActivities: built inside a transaction, published after
its commit (a client that reloads on an event then reads the new state). Dedupe keys make a
retried activity publish nothing twice, so a retry may always re-announce."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from typing import Any

from redis.asyncio import Redis
from sqlalchemy.ext.asyncio import AsyncSession

from core import events
from core.config import Settings
from core.temporal import ui_url
from models.generation import Generation
from services import generations, shots


@dataclass(frozen=True)
class PendingEvent:
    """An event built inside a transaction and published after its commit."""

    type: str
    payload: dict[str, Any]
    organization_id: uuid.UUID | None
    user_id: uuid.UUID | None
    dedupe_key: str


async def generation_event(
    settings: Settings, session: AsyncSession, generation: Generation, kind: str
) -> PendingEvent:
    """generation.<kind> with the generation as GET /generations/{id} shows it; the dedupe
    key makes a retried activity publish nothing new."""
    await session.flush()
    (public,) = await generations.publics(
        session, [generation], ui_url=lambda wid: ui_url(settings, wid)
    )
    key = f"generation:{generation.id}:{generation.attempt}:{kind}"
    if kind == "updated":
        key += f":{generation.status.value}:{generation.progress:.3f}"
    return PendingEvent(
        type=f"generation.{kind}",
        payload=public.model_dump(mode="json"),
        organization_id=generation.organization_id,
        user_id=generation.owner_id,
        dedupe_key=key,
    )


async def shot_event(session: AsyncSession, shot_id: uuid.UUID) -> PendingEvent | None:
    public = await shots.public_by_id(session, shot_id)
    if public is None:
        return None
    return PendingEvent(
        type="shot.updated",
        payload=public.model_dump(mode="json"),
        organization_id=public.organization_id,
        user_id=public.owner_id,
        dedupe_key=f"shot:{public.id}:{public.current_revision_id}:{public.status}",
    )


async def emit(redis: Redis, pending: list[PendingEvent | None]) -> None:
    """Publish after the commit; a retry re-publishes under the same dedupe keys."""
    for event in pending:
        if event is not None:
            await events.publish(
                redis,
                type=event.type,
                payload=event.payload,
                organization_id=event.organization_id,
                user_id=event.user_id,
                dedupe_key=event.dedupe_key,
            )
