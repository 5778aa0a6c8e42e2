"""Generations: start (from a shot), read, list, cancel, retry; predictions. (Batches of a
shooting: api/routes/batches.py.)"""

from __future__ import annotations

import contextlib
import uuid
from typing import Annotated

from fastapi import APIRouter, Query
from redis.asyncio import Redis
from temporalio.service import RPCError

from api.deps import PageDep, RedisDep, ScopeDep, SessionDep, SettingsDep, TemporalDep
from api.rate_limits import GenerationLimit
from core import events
from core.config import Settings
from core.starts import start_generation
from core.temporal import LazyClient, ui_url
from models.base import Page
from models.generation import (
    Generation,
    GenerationCreate,
    GenerationPublic,
    GenerationStatus,
    PredictionPublic,
    ShotGenerateRequest,
)
from services import generation_config, generations, predictions, run_labels
from services.errors import WorkflowUnavailable

router = APIRouter(tags=["generations"])


async def _public(
    session: SessionDep, settings: Settings, generation: Generation
) -> GenerationPublic:
    (public,) = await generations.publics(
        session, [generation], ui_url=lambda wid: ui_url(settings, wid)
    )
    return public


async def _start(
    session: SessionDep, temporal: LazyClient, settings: Settings, generation: Generation
) -> None:
    label = await run_labels.generation(session, generation)
    client = await temporal.get()
    try:
        await start_generation(
            client,
            generation_id=generation.id,
            organization_id=generation.organization_id,
            owner_id=generation.owner_id,
            shooting_id=generation.shooting_id,
            task_queue_prefix=settings.TASK_QUEUE_PREFIX,
            label=label,
        )
    except RPCError as error:
        # The row is committed and stays `pending`: the reconciler schedule starts it later.
        raise WorkflowUnavailable(f"Generation saved but could not start yet: {error}") from error


async def _announce(redis: Redis, public: GenerationPublic, kind: str) -> None:
    """generation.<kind> on the owner's scope (the worker announces later changes)."""
    await events.publish(
        redis,
        type=f"generation.{kind}",
        payload=public.model_dump(mode="json"),
        organization_id=public.organization_id,
        user_id=public.owner_id,
        dedupe_key=f"generation:{public.id}:{public.attempt}:{kind}",
    )


async def _create_and_start(
    session: SessionDep,
    scope: ScopeDep,
    shot_id: uuid.UUID,
    body: ShotGenerateRequest,
    *,
    settings: Settings,
    redis: Redis,
    temporal: LazyClient,
) -> GenerationPublic:
    # Before anything is written: the config rules that depend on this deployment.
    generation_config.check_request(body.config, settings)
    generation = await generations.create_for_shot(session, scope, shot_id, body)
    await session.commit()
    # With its batch_size pending predictions, so a client draws every placeholder from the
    # first event; the same view serves the response (the workflow start changes no column).
    public = await _public(session, settings, generation)
    await _announce(redis, public, "created")
    await _start(session, temporal, settings, generation)
    return public


@router.post("/generations", status_code=202)
async def create_generation(
    body: GenerationCreate,
    session: SessionDep,
    scope: ScopeDep,
    settings: SettingsDep,
    redis: RedisDep,
    temporal: TemporalDep,
    _limit: GenerationLimit,
) -> GenerationPublic:
    """Start a generation for a shot; follow it on the WebSocket or GET /generations/{id}."""
    request_body = ShotGenerateRequest.model_validate(body.model_dump(exclude={"shot_id"}))
    return await _create_and_start(
        session,
        scope,
        body.shot_id,
        request_body,
        settings=settings,
        redis=redis,
        temporal=temporal,
    )


@router.post("/shots/{shot_id}/generate", status_code=202)
async def generate_shot(
    shot_id: uuid.UUID,
    session: SessionDep,
    scope: ScopeDep,
    settings: SettingsDep,
    redis: RedisDep,
    temporal: TemporalDep,
    _limit: GenerationLimit,
    body: ShotGenerateRequest | None = None,
) -> GenerationPublic:
    """Start a generation for this shot (`num_predictions` is an alias of `batch_size`)."""
    body = body or ShotGenerateRequest()
    return await _create_and_start(
        session, scope, shot_id, body, settings=settings, redis=redis, temporal=temporal
    )


@router.get("/generations/")
async def list_generations(
    session: SessionDep,
    scope: ScopeDep,
    settings: SettingsDep,
    page: PageDep,
    shot_id: uuid.UUID | None = None,
    shooting_id: uuid.UUID | None = None,
    status: GenerationStatus | None = None,
) -> Page[GenerationPublic]:
    rows, count = await generations.list_(
        session,
        scope,
        skip=page.skip,
        limit=page.limit,
        shot_id=shot_id,
        shooting_id=shooting_id,
        status=status,
    )
    data = await generations.publics(session, rows, ui_url=lambda wid: ui_url(settings, wid))
    return Page(data=data, count=count)


@router.get("/generations/{generation_id}")
async def read_generation(
    generation_id: uuid.UUID, session: SessionDep, scope: ScopeDep, settings: SettingsDep
) -> GenerationPublic:
    """The generation with `compute_inputs`, what was sent to Compute (support reads it)."""
    generation = await generations.get(session, scope, generation_id)
    (public,) = await generations.publics(
        session, [generation], ui_url=lambda wid: ui_url(settings, wid), with_inputs=True
    )
    return public


@router.post("/generations/{generation_id}/cancel", status_code=202)
async def cancel_generation(
    generation_id: uuid.UUID,
    session: SessionDep,
    scope: ScopeDep,
    settings: SettingsDep,
    redis: RedisDep,
    temporal: TemporalDep,
) -> GenerationPublic:
    """A pending generation ends `cancelled` at once (its workflow may never have started);
    a running one is asked through its workflow, which cancels the compute task."""
    generation = await generations.get(session, scope, generation_id, for_update=True)
    generations.ensure_cancellable(generation)
    if await generations.cancel_pending(session, generation):
        await session.commit()
        public = await _public(session, settings, generation)
        await _announce(redis, public, "cancelled")
        # A workflow that did start ends cancelled too (true in the Temporal UI); none, or
        # Temporal out of reach, changes nothing: the row already says `cancelled`.
        with contextlib.suppress(RPCError, RuntimeError):
            await _cancel_workflow(temporal, generation_id)
        return public
    await session.rollback()  # the row lock is not held across the call to Temporal
    try:
        await _cancel_workflow(temporal, generation_id)
    except RPCError as error:
        raise WorkflowUnavailable(f"Could not reach the generation's workflow: {error}") from error
    return await _public(session, settings, await generations.get(session, scope, generation_id))


async def _cancel_workflow(temporal: LazyClient, generation_id: uuid.UUID) -> None:
    client = await temporal.get()
    await client.get_workflow_handle(generations.workflow_id(generation_id)).cancel()


@router.post("/generations/{generation_id}/retry", status_code=202)
async def retry_generation(
    generation_id: uuid.UUID,
    session: SessionDep,
    scope: ScopeDep,
    settings: SettingsDep,
    redis: RedisDep,
    temporal: TemporalDep,
    _limit: GenerationLimit,
) -> GenerationPublic:
    """Run a failed or cancelled generation again, as its next attempt."""
    generation = await generations.get(session, scope, generation_id)
    await generations.prepare_retry(session, generation)
    await session.commit()
    await _announce(redis, await _public(session, settings, generation), "updated")
    await _start(session, temporal, settings, generation)
    return await _public(session, settings, generation)


@router.get("/predictions/")
async def list_predictions(
    session: SessionDep,
    scope: ScopeDep,
    page: PageDep,
    shot_id: Annotated[uuid.UUID | None, Query()] = None,
    generation_id: Annotated[uuid.UUID | None, Query()] = None,
) -> Page[PredictionPublic]:
    rows, count = await predictions.list_(
        session,
        scope,
        skip=page.skip,
        limit=page.limit,
        shot_id=shot_id,
        generation_id=generation_id,
    )
    return Page(data=[predictions.public(p) for p in rows], count=count)
