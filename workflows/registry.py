"""Which workflows run on which task queue (the worker and the replay tests share this)."""

from __future__ import annotations

from core.temporal import DEFAULT_QUEUE, GENERATIONS_QUEUE, MAINTENANCE_QUEUE
from workflows.bulk_upload import BulkUploadWorkflow
from workflows.caption import CaptionWorkflow
from workflows.export import ExportWorkflow
from workflows.generation import GenerationWorkflow
from workflows.mail import MailWorkflow
from workflows.maintenance import (
    GenerationReconcilerWorkflow,
    SessionCleanupWorkflow,
    UsageReportWorkflow,
)
from workflows.media_cleanup import (
    DeadLetterRetryWorkflow,
    MediaDeletionWorkflow,
    OrphanScanWorkflow,
)
from workflows.shooting_generation import ShootingGenerationWorkflow

WORKFLOWS_BY_QUEUE: dict[str, list[type]] = {
    # Batches live beside their children: a child inherits its parent's task queue.
    GENERATIONS_QUEUE: [GenerationWorkflow, ShootingGenerationWorkflow],
    DEFAULT_QUEUE: [CaptionWorkflow, BulkUploadWorkflow, ExportWorkflow, MailWorkflow],
    MAINTENANCE_QUEUE: [
        SessionCleanupWorkflow,
        UsageReportWorkflow,
        GenerationReconcilerWorkflow,
        MediaDeletionWorkflow,
        DeadLetterRetryWorkflow,
        OrphanScanWorkflow,
    ],
}

ALL_WORKFLOWS: list[type] = [wf for wfs in WORKFLOWS_BY_QUEUE.values() for wf in wfs]
