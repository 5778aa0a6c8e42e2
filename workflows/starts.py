"""Starting and signalling workflows from the API and the worker (client side, not
workflow code). Ids derive from domain ids, so a start is idempotent."""

from __future__ import annotations

import uuid

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
    ORGANIZATION_ID,
    SHOOTING_ID,
    STATUS,
)
from workflows.caption import CaptionWorkflow
from workflows.caption_types import CaptionInput
from workflows.generation import GenerationWorkflow
from workflows.shooting_generation import ShootingGenerationWorkflow
from workflows.types import GenerationInput, ShootingGenerationInput

# DESIGN §5 priorities: lower runs first; fairness is keyed by organization.
PRIORITY_INTERACTIVE = 1
PRIORITY_BATCH_CHILD = 3
PRIORITY_JOB = 4
PRIORITY_MAINTENANCE = 5


def fairness_key(organization_id: uuid.UUID | str | None, owner_id: uuid.UUID | str | None) -> str:
    return f"org:{organization_id}" if organization_id else f"user:{owner_id}"


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


async def start_generation(
    client: Client,
    *,
    generation_id: uuid.UUID,
    organization_id: uuid.UUID | None,
    owner_id: uuid.UUID | None,
    shooting_id: uuid.UUID | None,
    priority_key: int = PRIORITY_INTERACTIVE,
    task_queue_prefix: str = "",
) -> WorkflowHandle:
    """Start (or find the running) GenerationWorkflow of a generation: never two at once."""
    workflow_id = f"generation-{generation_id}"
    try:
        return await client.start_workflow(
            GenerationWorkflow.run,
            GenerationInput(generation_id=str(generation_id)),
            id=workflow_id,
            task_queue=task_queue_prefix + GENERATIONS_QUEUE,
            # A running run is reused; a closed one may be followed by a retry's new run.
            id_conflict_policy=WorkflowIDConflictPolicy.USE_EXISTING,
            id_reuse_policy=WorkflowIDReusePolicy.ALLOW_DUPLICATE,
            search_attributes=search_attributes(
                organization_id=organization_id,
                entity_id=generation_id,
                entity_type="generation",
                status="pending",
                shooting_id=shooting_id,
            ),
            priority=Priority(
                priority_key=priority_key, fairness_key=fairness_key(organization_id, owner_id)
            ),
            static_summary=f"Generation {generation_id}",
        )
    except WorkflowAlreadyStartedError:
        return client.get_workflow_handle(workflow_id)


def shooting_generation_id(shooting_id: uuid.UUID, look_id: uuid.UUID | None) -> str:
    suffix = f"-look-{look_id}" if look_id else ""
    return f"shooting-generation-{shooting_id}{suffix}"


async def start_shooting_generation(
    client: Client, batch: ShootingGenerationInput, *, task_queue_prefix: str = ""
) -> WorkflowHandle:
    """One batch per shooting (or look) at a time: a second start finds the running one."""
    workflow_id = shooting_generation_id(
        uuid.UUID(batch.shooting_id), uuid.UUID(batch.look_id) if batch.look_id else None
    )
    try:
        return await client.start_workflow(
            ShootingGenerationWorkflow.run,
            batch,
            id=workflow_id,
            task_queue=task_queue_prefix + GENERATIONS_QUEUE,
            id_conflict_policy=WorkflowIDConflictPolicy.USE_EXISTING,
            id_reuse_policy=WorkflowIDReusePolicy.ALLOW_DUPLICATE,
            search_attributes=search_attributes(
                organization_id=batch.organization_id,
                entity_id=batch.shooting_id,
                entity_type="shooting_generation",
                status="running",
                shooting_id=batch.shooting_id,
            ),
            priority=Priority(
                priority_key=PRIORITY_BATCH_CHILD,
                fairness_key=fairness_key(batch.organization_id, batch.user_id),
            ),
            static_summary=f"Shooting {batch.shooting_id} batch generation",
        )
    except WorkflowAlreadyStartedError:
        return client.get_workflow_handle(workflow_id)


async def start_caption(
    client: Client,
    *,
    media_id: uuid.UUID,
    product_id: uuid.UUID | None,
    organization_id: uuid.UUID | None,
    owner_id: uuid.UUID | None,
    task_queue_prefix: str = "",
) -> WorkflowHandle:
    """One caption run per media resource at a time (`caption-{media_id}`)."""
    workflow_id = f"caption-{media_id}"
    try:
        return await client.start_workflow(
            CaptionWorkflow.run,
            CaptionInput(
                media_id=str(media_id), product_id=str(product_id) if product_id else None
            ),
            id=workflow_id,
            task_queue=task_queue_prefix + DEFAULT_QUEUE,
            id_conflict_policy=WorkflowIDConflictPolicy.USE_EXISTING,
            id_reuse_policy=WorkflowIDReusePolicy.ALLOW_DUPLICATE,
            search_attributes=search_attributes(
                organization_id=organization_id,
                entity_id=media_id,
                entity_type="caption",
                status="running",
            ),
            priority=Priority(
                priority_key=PRIORITY_JOB, fairness_key=fairness_key(organization_id, owner_id)
            ),
        )
    except WorkflowAlreadyStartedError:
        return client.get_workflow_handle(workflow_id)
