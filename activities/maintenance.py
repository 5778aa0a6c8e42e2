"""Maintenance side effects: database housekeeping run by scheduled workflows."""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from temporalio import activity

from core.db import session_scope
from services import auth
from workflows.types import SessionCleanupInput, SessionCleanupResult


class MaintenanceActivities:
    """Built once per worker with its database sessionmaker."""

    def __init__(self, sessionmaker: async_sessionmaker[AsyncSession]) -> None:
        self._sessionmaker = sessionmaker

    @activity.defn(name="delete_expired_sessions")
    async def delete_expired_sessions(self, data: SessionCleanupInput) -> SessionCleanupResult:
        """Idempotent: a retry deletes what is left, never anything newer than the cutoff."""
        async with session_scope(self._sessionmaker) as session:
            deleted = await auth.delete_expired_sessions(
                session, older_than=timedelta(hours=data.retention_hours)
            )
        activity.logger.info("deleted %d expired sessions", deleted)
        return SessionCleanupResult(deleted=deleted)
