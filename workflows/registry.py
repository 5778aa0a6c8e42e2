"""Which workflows run on which task queue (the worker and the replay tests share this)."""

from __future__ import annotations

from core.temporal import DEFAULT_QUEUE, GENERATIONS_QUEUE, MAINTENANCE_QUEUE
from workflows.maintenance import SessionCleanupWorkflow

WORKFLOWS_BY_QUEUE: dict[str, list[type]] = {
    GENERATIONS_QUEUE: [],
    DEFAULT_QUEUE: [],
    MAINTENANCE_QUEUE: [SessionCleanupWorkflow],
}

ALL_WORKFLOWS: list[type] = [wf for wfs in WORKFLOWS_BY_QUEUE.values() for wf in wfs]
