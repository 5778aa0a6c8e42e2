"""`sartiq runs`: the runs an operator would find in the Temporal UI, from the terminal.

The same visibility queries the UI takes (search attributes of core/temporal.py), each
run with its summary (described one by one: a list answer carries no summaries) and its
UI link. Filters are checked before they reach the query, so nothing typed on the command
line is interpreted as query syntax.
"""

from __future__ import annotations

import asyncio
import uuid
from dataclasses import dataclass
from datetime import datetime

from temporalio.client import Client, WorkflowExecution, WorkflowExecutionStatus
from temporalio.service import RPCError

from core.config import Settings
from core.temporal import ENTITY_TYPE, LEGACY_STATUS, ORGANIZATION_ID, STATUS, ui_url

# The values SartiqStatus takes (workflows/run_status.py and the domain's status sets).
STATUSES = ("pending", "processing", "running", "completed", "failed", "cancelled")
# EntityType of every kind of run (core/starts.py, workflows/schedules.py).
TYPES = (
    "generation",
    "shooting_generation",
    "caption",
    "export",
    "bulk_upload",
    "media_deletion",
    "orphan_scan",
    "session_cleanup",
    "usage_report",
    "generation_reconciler",
    "dead_letter_retry",
)
# Describes in flight at once (one RPC per run for its summary).
DESCRIBE_CONCURRENCY = 8


class BadFilter(ValueError):
    """A filter outside the known values (the message names it and lists them)."""


@dataclass(frozen=True)
class RunRow:
    workflow_id: str
    run_id: str
    entity_type: str
    status: str  # SartiqStatus (the domain's), else the pre-rename Status
    execution_status: str  # Temporal's own: running, completed, failed, ...
    started: datetime | None
    summary: str
    details: str | None
    link: str | None


def query(
    *, organization_id: str | None = None, status: str | None = None, kind: str | None = None
) -> str:
    """A visibility query of the filters (all optional, AND-ed)."""
    parts = []
    if organization_id is not None:
        try:
            value = str(uuid.UUID(organization_id))
        except ValueError:
            raise BadFilter(f"--org: not an organization id: {organization_id!r}") from None
        parts.append(f"{ORGANIZATION_ID.name} = '{value}'")
    if status is not None:
        if status not in STATUSES:
            raise BadFilter(f"--status: one of {', '.join(STATUSES)}")
        # Runs started before the rename carry `Status` (quoted: a reserved word) instead.
        parts.append(f"({STATUS.name} = '{status}' OR `{LEGACY_STATUS.name}` = '{status}')")
    if kind is not None:
        if kind not in TYPES:
            raise BadFilter(f"--type: one of {', '.join(TYPES)}")
        parts.append(f"{ENTITY_TYPE.name} = '{kind}'")
    return " AND ".join(parts)


def execution_status(status: WorkflowExecutionStatus | None) -> str:
    """Temporal's own status in the domain's words (it spells CANCELED, we "cancelled")."""
    name = status.name.lower() if status else "unknown"
    return "cancelled" if name == "canceled" else name


async def _row(client: Client, settings: Settings, run: WorkflowExecution) -> RunRow:
    attributes = run.typed_search_attributes
    summary = details = None
    try:
        description = await client.get_workflow_handle(run.id, run_id=run.run_id).describe()
        summary, details = await description.static_summary(), await description.static_details()
    except RPCError:  # gone since it was listed (retention): list it without
        pass
    execution = execution_status(run.status)
    return RunRow(
        workflow_id=run.id,
        run_id=run.run_id,
        entity_type=attributes.get(ENTITY_TYPE) or run.workflow_type,
        status=attributes.get(STATUS) or attributes.get(LEGACY_STATUS) or execution,
        execution_status=execution,
        started=run.start_time,
        summary=summary or run.workflow_type,
        details=details,
        link=ui_url(settings, run.id),
    )


async def runs(
    client: Client,
    settings: Settings,
    *,
    organization_id: str | None = None,
    status: str | None = None,
    kind: str | None = None,
    limit: int = 20,
) -> list[RunRow]:
    """The newest `limit` runs matching the filters, newest first."""
    listed = []
    text = query(organization_id=organization_id, status=status, kind=kind)
    async for run in client.list_workflows(text, limit=limit):
        listed.append(run)
    gate = asyncio.Semaphore(DESCRIBE_CONCURRENCY)

    async def one(run: WorkflowExecution) -> RunRow:
        async with gate:
            return await _row(client, settings, run)

    return list(await asyncio.gather(*(one(r) for r in listed)))


def table(rows: list[RunRow]) -> list[str]:
    """Lines for the terminal: status, type, start, summary; the UI link below each."""
    lines = [f"{'STATUS':<11} {'TYPE':<22} {'STARTED':<20} SUMMARY"]
    for row in rows:
        started = row.started.strftime("%Y-%m-%d %H:%M:%S") if row.started else "-"
        status = row.status
        if row.execution_status not in (row.status, "running"):
            status = f"{row.status}*"  # the workflow's own status differs (see the legend)
        lines.append(f"{status:<11} {row.entity_type:<22} {started:<20} {row.summary}")
        if row.link:
            lines.append(f"{'':<11} {row.link}")
    if any(r.execution_status not in (r.status, "running") for r in rows):
        lines.append(
            "* the domain's status; the workflow itself ended otherwise (e.g. a generation"
            " that ended failed in a workflow that completed)"
        )
    return lines
