"""Scheduled housekeeping workflows: expired sessions, the daily usage report, and the
reconciler of generations that lost their workflow. (Media cleanup: media_cleanup.py.)"""

from __future__ import annotations

from datetime import timedelta

from temporalio import workflow
from temporalio.common import RetryPolicy

with workflow.unsafe.imports_passed_through():
    from activities.maintenance import MaintenanceActivities
    from workflows.maintenance_types import (
        ReconcileInput,
        ReconcileResult,
        UsageReportInput,
        UsageReportResult,
    )
    from workflows.run_status import ends_with_status
    from workflows.types import SessionCleanupInput, SessionCleanupResult


@workflow.defn(name="SessionCleanupWorkflow")
class SessionCleanupWorkflow:
    """Delete refresh-token sessions that expired or were revoked a while ago (hourly)."""

    @workflow.run
    @ends_with_status
    async def run(self, data: SessionCleanupInput) -> SessionCleanupResult:
        return await workflow.execute_activity_method(
            MaintenanceActivities.delete_expired_sessions,
            data,
            start_to_close_timeout=timedelta(minutes=5),
            retry_policy=RetryPolicy(maximum_attempts=5),
        )


@workflow.defn(name="UsageReportWorkflow")
class UsageReportWorkflow:
    """Daily: usage of the previous UTC day (or of `report_date`, for a backfill)."""

    @workflow.run
    @ends_with_status
    async def run(self, data: UsageReportInput) -> UsageReportResult:
        # workflow.now() is the run's deterministic clock: a replay reports the same day.
        day = data.report_date or (workflow.now().date() - timedelta(days=1)).isoformat()
        return await workflow.execute_activity_method(
            MaintenanceActivities.write_usage_report,
            UsageReportInput(report_date=day),
            start_to_close_timeout=timedelta(minutes=10),
            retry_policy=RetryPolicy(maximum_interval=timedelta(minutes=1), maximum_attempts=10),
        )


@workflow.defn(name="GenerationReconcilerWorkflow")
class GenerationReconcilerWorkflow:
    """Every 5 minutes: restart pending generations whose workflow never ran, fail
    processing ones whose workflow is gone (policy: MaintenanceActivities)."""

    @workflow.run
    @ends_with_status
    async def run(self, data: ReconcileInput) -> ReconcileResult:
        return await workflow.execute_activity_method(
            MaintenanceActivities.reconcile_generations,
            data,
            start_to_close_timeout=timedelta(minutes=4),
            heartbeat_timeout=timedelta(seconds=60),
            retry_policy=RetryPolicy(maximum_attempts=3),
        )
