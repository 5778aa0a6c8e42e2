"""Scheduled housekeeping workflows."""

from __future__ import annotations

from datetime import timedelta

from temporalio import workflow
from temporalio.common import RetryPolicy

with workflow.unsafe.imports_passed_through():
    from activities.maintenance import MaintenanceActivities
    from workflows.types import SessionCleanupInput, SessionCleanupResult


@workflow.defn(name="SessionCleanupWorkflow")
class SessionCleanupWorkflow:
    """Delete refresh-token sessions that expired or were revoked a while ago (hourly)."""

    @workflow.run
    async def run(self, data: SessionCleanupInput) -> SessionCleanupResult:
        return await workflow.execute_activity_method(
            MaintenanceActivities.delete_expired_sessions,
            data,
            start_to_close_timeout=timedelta(minutes=5),
            retry_policy=RetryPolicy(maximum_attempts=5),
        )
