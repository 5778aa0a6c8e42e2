"""Scheduled housekeeping workflows on the real Temporal server and database."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

from fastapi import FastAPI
from sqlmodel import select
from temporalio.client import Client

from core.temporal import MAINTENANCE_QUEUE
from models.user import UserSession
from tests.helpers import UserHandle
from tests.workflows.conftest import record_history
from workflows.maintenance import SessionCleanupWorkflow
from workflows.types import SessionCleanupInput, SessionCleanupResult


async def _add_session(app: FastAPI, user_id: str, *, expired_hours_ago: float) -> uuid.UUID:
    now = datetime.now(UTC)
    row = UserSession(
        user_id=uuid.UUID(user_id),
        family_id=uuid.uuid4(),
        token_hash=uuid.uuid4().hex,
        created_at=now - timedelta(days=40),
        expires_at=now - timedelta(hours=expired_hours_ago),
    )
    async with app.state.sessionmaker() as session:
        session.add(row)
        await session.commit()
    return row.id


async def _exists(app: FastAPI, session_id: uuid.UUID) -> bool:
    async with app.state.sessionmaker() as session:
        return (
            await session.scalar(select(UserSession.id).where(UserSession.id == session_id))
        ) is not None


async def test_session_cleanup_deletes_only_old_expired_sessions(
    app: FastAPI, user: UserHandle, temporal_client: Client, worker_queues: str
) -> None:
    old = await _add_session(app, user.id, expired_hours_ago=48)
    recent = await _add_session(app, user.id, expired_hours_ago=1)

    handle = await temporal_client.start_workflow(
        SessionCleanupWorkflow.run,
        SessionCleanupInput(retention_hours=24),
        id=f"session-cleanup-{uuid.uuid4()}",
        task_queue=worker_queues + MAINTENANCE_QUEUE,
    )
    result = await handle.result()
    assert isinstance(result, SessionCleanupResult) and result.deleted >= 1
    assert not await _exists(app, old)
    assert await _exists(app, recent)
    assert await api_login_still_works(app, user)
    await record_history(handle, "session_cleanup")

    again = await temporal_client.execute_workflow(
        SessionCleanupWorkflow.run,
        SessionCleanupInput(retention_hours=24),
        id=f"session-cleanup-{uuid.uuid4()}",
        task_queue=worker_queues + MAINTENANCE_QUEUE,
    )
    assert again.deleted == 0  # idempotent: nothing old is left


async def api_login_still_works(app: FastAPI, user: UserHandle) -> bool:
    """The user's live session (from signup login) is untouched by the cleanup."""
    async with app.state.sessionmaker() as session:
        live = await session.scalars(
            select(UserSession).where(
                UserSession.user_id == uuid.UUID(user.id), UserSession.revoked_at.is_(None)
            )
        )
        return any(s.expires_at > datetime.now(UTC) for s in live)
