"""Starting workflows from the API, the worker's activities, the CLI and the tests: client
code, so it lives here and not in the deterministic `workflows/` package. Ids derive from
domain ids, so a start is idempotent.

The one module of core/ that imports workflows/: it names the workflows it starts and their
payload types (tests/test_layout.py allows exactly this)."""

from __future__ import annotations

import uuid
from typing import Any, Protocol

from temporalio.client import Client, WorkflowHandle
from temporalio.common import (
    Priority,
    SearchAttributePair,
    TypedSearchAttributes,
    WorkflowIDConflictPolicy,
    WorkflowIDReusePolicy,
)
from temporalio.exceptions import WorkflowAlreadyStartedError

from core.temporal import (
    DEFAULT_QUEUE,
    ENTITY_ID,
    ENTITY_TYPE,
    GENERATIONS_QUEUE,
    MAINTENANCE_QUEUE,
    ORGANIZATION_ID,
    PRIORITY_BATCH_CHILD,
    PRIORITY_INTERACTIVE,
    PRIORITY_JOB,
    PRIORITY_MAINTENANCE,
    SHOOTING_ID,
    STATUS,
    fairness_key,
)
from workflows.batch_types import ShootingGenerationInput
from workflows.bulk_upload import BulkUploadWorkflow
from workflows.bulk_upload_types import BulkUploadInput
from workflows.caption import CaptionWorkflow
from workflows.caption_types import CaptionInput
from workflows.export import ExportWorkflow
from workflows.export_types import (
    DEFAULT_HEARTBEAT_TIMEOUT_SECONDS,
    ExportInput,
    ExportOutcome,
)
from workflows.generation import GenerationWorkflow
from workflows.mail import MailWorkflow
from workflows.mail_types import MailInput
from workflows.maintenance_types import MediaDeletionInput, OrphanScanInput
from workflows.media_cleanup import MediaDeletionWorkflow, OrphanScanWorkflow
from workflows.shooting_generation import ShootingGenerationWorkflow
from workflows.types import GenerationInput


class RunLabel(Protocol):
    """How a run reads in the UI (services/run_labels.RunLabel is one)."""

    @property
    def summary(self) -> str: ...
    @property
    def details(self) -> str: ...


def _shown(
    label: RunLabel | str | None, fallback: str, details: str | None = None
) -> dict[str, str | None]:
    """The static summary and details of a start (a fallback naming the entity by id)."""
    if isinstance(label, str) or label is None:
        return {"static_summary": label or fallback, "static_details": details}
    return {"static_summary": label.summary, "static_details": label.details or None}


def search_attributes(
    *,
    organization_id: uuid.UUID | str | None,
    entity_id: uuid.UUID | str,
    entity_type: str,
    status: str,
    shooting_id: uuid.UUID | str | None = None,
) -> TypedSearchAttributes:
    pairs = [
        SearchAttributePair(
            ORGANIZATION_ID, str(organization_id) if organization_id else "personal"
        ),
        SearchAttributePair(ENTITY_ID, str(entity_id)),
        SearchAttributePair(ENTITY_TYPE, entity_type),
        SearchAttributePair(STATUS, status),
    ]
    if shooting_id:
        pairs.append(SearchAttributePair(SHOOTING_ID, str(shooting_id)))
    return TypedSearchAttributes(pairs)


async def _start_once(
    client: Client,
    run: Any,
    arg: Any,
    *,
    workflow_id: str,
    task_queue: str,
    attributes: TypedSearchAttributes,
    priority: Priority,
    static_summary: str | None = None,
    static_details: str | None = None,
    result_type: type | None = None,
) -> WorkflowHandle:
    """Start a run, or find the running one: a running run is reused (never two at once),
    a closed one may be followed by a new run (a retry finds its domain row's state)."""
    try:
        return await client.start_workflow(
            run,
            arg,
            id=workflow_id,
            task_queue=task_queue,
            id_conflict_policy=WorkflowIDConflictPolicy.USE_EXISTING,
            id_reuse_policy=WorkflowIDReusePolicy.ALLOW_DUPLICATE,
            search_attributes=attributes,
            priority=priority,
            static_summary=static_summary,
            static_details=static_details,
            result_type=result_type,
        )
    except WorkflowAlreadyStartedError:
        return client.get_workflow_handle(workflow_id, result_type=result_type)


async def start_generation(
    client: Client,
    *,
    generation_id: uuid.UUID,
    organization_id: uuid.UUID | None,
    owner_id: uuid.UUID | None,
    shooting_id: uuid.UUID | None,
    priority_key: int = PRIORITY_INTERACTIVE,
    task_queue_prefix: str = "",
    label: RunLabel | None = None,
) -> WorkflowHandle:
    """Start (or find the running) GenerationWorkflow of a generation: never two at once.
    `label` (services/run_labels.py) is how the run reads in the Temporal UI."""
    workflow_id = f"generation-{generation_id}"
    return await _start_once(
        client,
        GenerationWorkflow.run,
        GenerationInput(generation_id=str(generation_id)),
        workflow_id=workflow_id,
        task_queue=task_queue_prefix + GENERATIONS_QUEUE,
        attributes=search_attributes(
            organization_id=organization_id,
            entity_id=generation_id,
            entity_type="generation",
            status="pending",
            shooting_id=shooting_id,
        ),
        priority=Priority(
            priority_key=priority_key, fairness_key=fairness_key(organization_id, owner_id)
        ),
        **_shown(label, f"Generation {generation_id}"),
    )


def shooting_generation_id(shooting_id: uuid.UUID, look_id: uuid.UUID | None) -> str:
    """The id of a batch run started before batch rows existed (one per shooting or look);
    a batch now runs as `shooting-generation-{batch id}` (models/shooting_generation.py)."""
    suffix = f"-look-{look_id}" if look_id else ""
    return f"shooting-generation-{shooting_id}{suffix}"


async def start_shooting_generation(
    client: Client,
    batch: ShootingGenerationInput,
    *,
    task_queue_prefix: str = "",
    details: str | None = None,
) -> WorkflowHandle:
    """The run of a batch row (`shooting-generation-{batch id}`): a repeated start finds it."""
    assert batch.batch_id, "a batch starts from its row"
    workflow_id = f"shooting-generation-{batch.batch_id}"
    return await _start_once(
        client,
        ShootingGenerationWorkflow.run,
        batch,
        workflow_id=workflow_id,
        task_queue=task_queue_prefix + GENERATIONS_QUEUE,
        attributes=search_attributes(
            organization_id=batch.organization_id,
            entity_id=batch.batch_id,
            entity_type="shooting_generation",
            status="running",
            shooting_id=batch.shooting_id,
        ),
        priority=Priority(
            priority_key=PRIORITY_BATCH_CHILD,
            fairness_key=fairness_key(batch.organization_id, batch.user_id),
        ),
        **_shown(batch.label, f"Batch {batch.batch_id} of shooting {batch.shooting_id}", details),
    )


async def start_caption(
    client: Client,
    *,
    media_id: uuid.UUID,
    product_id: uuid.UUID | None,
    organization_id: uuid.UUID | None,
    owner_id: uuid.UUID | None,
    task_queue_prefix: str = "",
    deadline_seconds: int | None = None,
    label: RunLabel | None = None,
) -> WorkflowHandle:
    """One caption run per media resource at a time (`caption-{media_id}`), ending within
    `deadline_seconds` (CAPTION_DEADLINE_SECONDS; None: the workflow's default)."""
    workflow_id = f"caption-{media_id}"
    return await _start_once(
        client,
        CaptionWorkflow.run,
        CaptionInput(
            media_id=str(media_id),
            product_id=str(product_id) if product_id else None,
            deadline_seconds=deadline_seconds,
        ),
        workflow_id=workflow_id,
        task_queue=task_queue_prefix + DEFAULT_QUEUE,
        attributes=search_attributes(
            organization_id=organization_id,
            entity_id=media_id,
            entity_type="caption",
            status="running",
        ),
        priority=Priority(
            priority_key=PRIORITY_JOB, fairness_key=fairness_key(organization_id, owner_id)
        ),
        **_shown(label, f"Caption of media {media_id}"),
    )


async def start_mail(
    client: Client,
    data: MailInput,
    *,
    organization_id: uuid.UUID | None = None,
    task_queue_prefix: str = "",
) -> WorkflowHandle:
    """One run per mail asked for (`mail-{uuid}`); its summary names the kind, no address."""
    mail_id = uuid.uuid4()
    return await _start_once(
        client,
        MailWorkflow.run,
        data,
        workflow_id=f"mail-{mail_id}",
        task_queue=task_queue_prefix + DEFAULT_QUEUE,
        attributes=search_attributes(
            organization_id=organization_id,
            entity_id=data.invitation_id or mail_id,
            entity_type="mail",
            status="running",
        ),
        priority=Priority(priority_key=PRIORITY_INTERACTIVE),
        **_shown(f"Mail · {data.kind.replace('_', ' ')}", ""),
    )


async def start_media_deletion(
    client: Client,
    data: MediaDeletionInput,
    *,
    organization_id: uuid.UUID | None = None,
    owner_id: uuid.UUID | None = None,
    task_queue_prefix: str = "",
) -> WorkflowHandle:
    """Delete a media object after its row's deletion was committed
    (`media-deletion-{media id}`). Media ids derive from content: the same bytes deleted
    again later reuse the id, hence ALLOW_DUPLICATE."""
    media_id = data.media_resource_id or data.storage_key
    workflow_id = f"media-deletion-{media_id}"
    return await _start_once(
        client,
        MediaDeletionWorkflow.run,
        data,
        workflow_id=workflow_id,
        task_queue=task_queue_prefix + MAINTENANCE_QUEUE,
        attributes=search_attributes(
            organization_id=organization_id,
            entity_id=media_id,
            entity_type="media_deletion",
            status="running",
        ),
        priority=Priority(
            priority_key=PRIORITY_MAINTENANCE,
            fairness_key=fairness_key(organization_id, owner_id),
        ),
        static_summary=f"Media deletion · {data.storage_key}",
    )


async def start_orphan_scan(
    client: Client, data: OrphanScanInput, *, task_queue_prefix: str = ""
) -> WorkflowHandle:
    """An on-demand orphan scan (the daily one comes from its schedule)."""
    mode = "dry-run" if data.dry_run else "delete"
    return await client.start_workflow(
        OrphanScanWorkflow.run,
        data,
        id=f"orphan-scan-{mode}-{uuid.uuid4().hex[:12]}",
        task_queue=task_queue_prefix + MAINTENANCE_QUEUE,
        priority=Priority(priority_key=PRIORITY_MAINTENANCE),
        search_attributes=TypedSearchAttributes(
            [
                SearchAttributePair(ENTITY_TYPE, "orphan_scan"),
                SearchAttributePair(STATUS, "running"),
            ]
        ),
        static_summary=f"Orphan scan ({mode}), started by an admin",
    )


def bulk_upload_workflow_id(upload_id: uuid.UUID | str) -> str:
    return f"bulk-upload-{upload_id}"


async def start_bulk_upload(
    client: Client,
    *,
    upload_id: uuid.UUID,
    organization_id: uuid.UUID | None,
    owner_id: uuid.UUID | None,
    task_queue_prefix: str = "",
    chunk_rows: int | None = None,
    continue_as_new_every: int | None = None,
    label: RunLabel | None = None,
) -> WorkflowHandle:
    """One run per bulk upload (`bulk-upload-{id}`); a repeated start finds it. A start after
    the upload finished runs again and finds nothing to do. `chunk_rows` and
    `continue_as_new_every` are knobs for tests."""
    workflow_id = bulk_upload_workflow_id(upload_id)
    data = BulkUploadInput(
        bulk_upload_id=str(upload_id),
        continue_as_new_every=continue_as_new_every,
        label=label.summary if label else None,
        **({"chunk_rows": chunk_rows} if chunk_rows else {}),
    )
    return await _start_once(
        client,
        BulkUploadWorkflow.run,
        data,
        workflow_id=workflow_id,
        task_queue=task_queue_prefix + DEFAULT_QUEUE,
        attributes=search_attributes(
            organization_id=organization_id,
            entity_id=upload_id,
            entity_type="bulk_upload",
            status="pending",
        ),
        priority=Priority(
            priority_key=PRIORITY_JOB, fairness_key=fairness_key(organization_id, owner_id)
        ),
        **_shown(label, f"Bulk upload {upload_id}"),
    )


async def start_export(
    client: Client,
    *,
    export_id: uuid.UUID,
    organization_id: uuid.UUID | None,
    owner_id: uuid.UUID | None,
    shooting_id: uuid.UUID | None = None,
    task_queue_prefix: str = "",
    heartbeat_timeout_seconds: int = DEFAULT_HEARTBEAT_TIMEOUT_SECONDS,
    label: RunLabel | None = None,
) -> WorkflowHandle:
    """One run per export (`export-{id}`); a repeated start finds it, a start after it
    finished finds the export done. `heartbeat_timeout_seconds` bounds how long a dead
    worker's zip attempt goes unnoticed (tests shorten it)."""
    workflow_id = f"export-{export_id}"
    return await _start_once(
        client,
        ExportWorkflow.run,
        ExportInput(
            export_id=str(export_id),
            heartbeat_timeout_seconds=heartbeat_timeout_seconds,
            label=label.summary if label else None,
        ),
        workflow_id=workflow_id,
        task_queue=task_queue_prefix + DEFAULT_QUEUE,
        attributes=search_attributes(
            organization_id=organization_id,
            entity_id=export_id,
            entity_type="export",
            status="pending",
            shooting_id=shooting_id,
        ),
        priority=Priority(
            priority_key=PRIORITY_JOB, fairness_key=fairness_key(organization_id, owner_id)
        ),
        **_shown(label, f"Export {export_id}"),
        result_type=ExportOutcome,
    )
