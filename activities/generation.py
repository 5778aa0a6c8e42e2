"""Side effects of GenerationWorkflow: database, compute server, object store, events.

Every activity is idempotent: compute submissions carry an idempotency key, media ids and
keys derive from content, predictions are keyed by (generation, try, output), and events
carry a dedupe key, so a retry or a re-delivered task changes nothing twice.
"""

from __future__ import annotations

import asyncio
import uuid

from redis.asyncio import Redis
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from temporalio import activity
from temporalio.exceptions import ApplicationError

from activities.generation_events import PendingEvent, emit, generation_event, shot_event
from activities.generation_outputs import OutputReader, ingest_outputs
from activities.generation_timings import time_task
from core import outbound
from core.compute import ComputeClient, ComputeError, TaskCreate
from core.config import Settings
from core.db import session_scope
from core.storage import ObjectStore
from models.generation import Generation, GenerationStatus
from models.media import EntityType
from services import (
    compute_request,
    compute_request_load,
    generation_config,
    generations,
    predictions,
    timings,
)
from services import media as media_service
from services.generation_config import WorkerConfig
from workflows.types import (
    CompleteInput,
    FinishInput,
    GenerationInput,
    GenerationPlan,
    OutputImage,
    ProgressInput,
    RecordAndCompleteInput,
    RecordTryInput,
    StoredOutput,
    StoreOutputsInput,
    SubmitTaskInput,
    TaskOutput,
    TaskSnapshot,
)


def _compute_failure(error: ComputeError) -> ApplicationError:
    """4xx from compute cannot be fixed by retrying; everything else can."""
    return ApplicationError(str(error), type="ComputeError", non_retryable=not error.retryable)


class GenerationActivities:
    """Built once per worker with its clients."""

    def __init__(
        self,
        *,
        settings: Settings,
        sessionmaker: async_sessionmaker[AsyncSession],
        redis: Redis,
        compute: ComputeClient,
        store: ObjectStore,
    ) -> None:
        self.settings = settings
        self.sessionmaker = sessionmaker
        self.redis = redis
        self.compute = compute
        self.store = store
        self._outputs = OutputReader(store, outbound.allow_list(settings))

    # -- events (published after the commit, see activities/generation_events.py) --------

    async def _generation_event(
        self, session: AsyncSession, generation: Generation, kind: str
    ) -> PendingEvent:
        return await generation_event(self.settings, session, generation, kind)

    async def _shot_event(self, session: AsyncSession, shot_id: uuid.UUID) -> PendingEvent | None:
        return await shot_event(session, shot_id)

    async def _emit(self, pending: list[PendingEvent | None]) -> None:
        await emit(self.redis, pending)

    # -- database ------------------------------------------------------------------------

    @activity.defn(name="generation.mark_processing")
    async def mark_processing(self, data: GenerationInput) -> GenerationPlan:
        pending: list[PendingEvent | None] = []
        failure: ApplicationError | None = None
        async with session_scope(self.sessionmaker) as session:
            generation = await generations.load_for_update(session, uuid.UUID(data.generation_id))
            running = await generations.mark_processing(session, generation)
            if running:
                timings.mark_started(generation)  # a worker took it: no longer queued
            try:
                config = generation_config.for_worker(generation.config, self.settings)
            except generation_config.InvalidStoredConfig as error:
                # No retry can fix a stored config. The generation ends `failed` with the
                # reason, committed here (rolled back, it would stay `pending` and the
                # reconciler would restart it forever); then the workflow fails on it.
                failure = ApplicationError(str(error), type="InvalidConfig", non_retryable=True)
                failed = await generations.finish(
                    session,
                    generation,
                    status=GenerationStatus.FAILED,
                    error_message=str(error),
                    error_category="invalid_config",
                )
                if failed:
                    pending.append(await self._generation_event(session, generation, "failed"))
            else:
                plan = await self._plan(session, generation, config, already_finished=not running)
                if running:
                    pending.append(await self._generation_event(session, generation, "updated"))
        await self._emit(pending)
        if failure is not None:
            raise failure
        return plan

    async def _plan(
        self,
        session: AsyncSession,
        generation: Generation,
        config: WorkerConfig,
        *,
        already_finished: bool,
    ) -> GenerationPlan:
        return GenerationPlan(
            generation_id=str(generation.id),
            organization_id=str(generation.organization_id) if generation.organization_id else None,
            owner_id=str(generation.owner_id) if generation.owner_id else None,
            generation_type=generation.generation_type.value,
            attempt=generation.attempt,
            num_outputs=generation.batch_size,
            width=config.width,
            height=config.height,
            format=config.format,
            inputs=await compute_request_load.compute_inputs(session, generation, config),
            max_attempts=config.max_attempts,
            min_confidence_score=config.min_confidence_score,
            deadline_seconds=config.deadline_seconds,
            poll_interval_seconds=config.poll_interval_seconds,
            sim=config.sim,
            already_finished=already_finished,
            status=generation.status.value,
        )

    @activity.defn(name="generation.record_progress")
    async def record_progress(self, data: ProgressInput) -> None:
        pending: list[PendingEvent | None] = []
        async with session_scope(self.sessionmaker) as session:
            generation = await generations.load_for_update(session, uuid.UUID(data.generation_id))
            if await generations.set_progress(session, generation, data.progress):
                await predictions.start_generating(session, generation)
            # Also on a retry whose first try committed: the event may not have gone out.
            if (
                generation.status == GenerationStatus.PROCESSING
                and generation.progress >= data.progress
            ):
                pending.append(await self._generation_event(session, generation, "updated"))
        await self._emit(pending)

    @activity.defn(name="generation.record_try")
    async def record_try(self, data: RecordTryInput) -> None:
        """Media rows, predictions and their attachments for one try's outputs."""
        async with session_scope(self.sessionmaker) as session:
            generation = await generations.load_for_completion(
                session, uuid.UUID(data.generation_id)
            )
            await self._record_outputs(session, generation, data)

    @activity.defn(name="generation.complete")
    async def complete_generation(self, data: CompleteInput) -> None:
        async with session_scope(self.sessionmaker) as session:
            generation = await generations.load_for_completion(
                session, uuid.UUID(data.generation_id)
            )
            pending = await self._complete(session, generation, data)
        await self._emit(pending)

    @activity.defn(name="generation.record_and_complete")
    async def record_and_complete(self, data: RecordAndCompleteInput) -> None:
        """record_try and complete in one transaction, for a generation with a single try
        (one activity and one workflow task fewer per generation)."""
        async with session_scope(self.sessionmaker) as session:
            generation = await generations.load_for_completion(
                session, uuid.UUID(data.record.generation_id)
            )
            await self._record_outputs(session, generation, data.record)
            pending = await self._complete(session, generation, data.complete)
        await self._emit(pending)

    async def _record_outputs(
        self, session: AsyncSession, generation: Generation, data: RecordTryInput
    ) -> None:
        # Upserts throughout: a retried attempt finds its rows and adds none. Media rows
        # first and by id (the last step of the lock order): outputs may share a row.
        rows: dict[str, uuid.UUID] = {}
        for output in sorted(data.outputs, key=lambda o: o.media_id):
            rows[output.media_id] = await self._upsert_media(session, generation, output)
        for index, output in enumerate(data.outputs):
            await predictions.upsert(
                session,
                generation,
                try_number=data.try_number,
                output_index=index,
                seed=output.seed,
                media_id=rows[output.media_id],
                task_id=data.task_id,
                score=data.score,
            )
            prediction_id = await predictions.id_of(session, generation, data.try_number, index)
            await media_service.attach(
                session,
                media_id=rows[output.media_id],
                entity_type=EntityType.PREDICTION,
                entity_id=prediction_id,
                slot="output",
            )
        await predictions.close_missing(
            session, generation, try_number=data.try_number, recorded=len(data.outputs)
        )
        timings.mark_ingest(generation, data.task_id)

    async def _upsert_media(
        self, session: AsyncSession, generation: Generation, output: StoredOutput
    ) -> uuid.UUID:
        row = await media_service.upsert(
            session,
            media_service.StoredFile(
                media_id=uuid.UUID(output.media_id),
                content_hash=output.content_hash,
                extension=output.extension,
                content_type=output.content_type,
                file_size=output.file_size,
                width=output.width,
                height=output.height,
                dominant_color=output.dominant_color,
                color_profile=output.color_profile,
            ),
            organization_id=generation.organization_id,
            owner_id=generation.owner_id,
        )
        return row.id

    async def _complete(
        self, session: AsyncSession, generation: Generation, data: CompleteInput
    ) -> list[PendingEvent | None]:
        """Mark it completed (once) and the events to announce after the commit."""
        if generation.status != GenerationStatus.COMPLETED:
            await generations.complete(
                session, generation, best_try=data.best_try, best_score=data.best_score
            )
            if data.provider:  # the fallback's, when the workflow moved the task there
                generation.provider = data.provider
        # A retry after the commit re-announces (deduplicated), so no event is lost.
        pending = [await self._generation_event(session, generation, "completed")]
        if generation.shot_id is not None:
            pending.append(await self._shot_event(session, generation.shot_id))
        return pending

    @activity.defn(name="generation.finish")
    async def finish_generation(self, data: FinishInput) -> None:
        pending: list[PendingEvent | None] = []
        status = GenerationStatus(data.status)
        async with session_scope(self.sessionmaker) as session:
            generation = await generations.load_for_update(session, uuid.UUID(data.generation_id))
            await generations.finish(
                session,
                generation,
                status=status,
                error_message=data.error_message,
                error_category=data.error_category,
            )
            if generation.status == status:
                pending.append(await self._generation_event(session, generation, status.value))
        await self._emit(pending)

    # -- compute ---------------------------------------------------------------------------

    @activity.defn(name="generation.submit_task")
    async def submit_task(self, data: SubmitTaskInput) -> str:
        # Compute fetches every image itself: each storage key becomes a short-lived read URL
        # (signing is local, but boto3 is sync: off the event loop).
        inputs = await asyncio.to_thread(
            compute_request.with_urls, data.inputs, lambda key: self.store.presigned_get(key)
        )
        # Fault knobs reach compute_sim only (a plan made before they were dropped there).
        sim = dict(data.sim or {}) if self.settings.is_development else {}
        if data.task_type == "evaluation" and "scores" in sim:
            scores = sim.pop("scores")
            sim["score"] = scores[min(data.try_number, len(scores)) - 1]
        task = TaskCreate(
            type=data.task_type,
            entity_id=data.generation_id,
            inputs=inputs,
            num_outputs=data.num_outputs,
            output={"width": data.width, "height": data.height, "format": data.format},
            sim=sim or None,
        )
        try:
            ref = await self.compute.create_task(task, idempotency_key=data.idempotency_key)
        except ComputeError as error:
            raise _compute_failure(error) from error
        if data.task_type == "generation":
            async with session_scope(self.sessionmaker) as session:
                generation = await generations.load_for_update(
                    session, uuid.UUID(data.generation_id)
                )
                generation.compute_task_id = ref.id
                # This try's placeholders (try 1's exist since submission), naming the task.
                await predictions.ensure_pending(
                    session, generation, try_number=data.try_number, task_id=ref.id
                )
                # The inputs as planned (keys, not the URLs that expire): the same on a
                # retried activity, so setting them again changes nothing.
                generation.compute_inputs = data.inputs
        return ref.id

    @activity.defn(name="generation.poll_task")
    async def poll_task(self, task_id: str) -> TaskSnapshot:
        try:
            state = await self.compute.get_task(task_id)
        except ComputeError as error:
            raise _compute_failure(error) from error
        return TaskSnapshot(
            task_id=state.id,
            status=state.status,
            progress=state.progress or 0.0,
            error_message=state.error_message,
            error_category=state.error_category,
        )

    @activity.defn(name="generation.fetch_result")
    async def fetch_result(self, task_id: str) -> TaskOutput:
        try:
            result = await self.compute.get_result(task_id)
        except ComputeError as error:
            raise _compute_failure(error) from error
        await time_task(self.compute, self.sessionmaker, task_id)
        output = result.output
        return TaskOutput(
            images=[OutputImage(url=i.url, seed=i.seed, key=i.key) for i in output.images],
            text=output.text,
            score=output.score,
        )

    @activity.defn(name="generation.cancel_task")
    async def cancel_task(self, task_id: str) -> None:
        try:
            await self.compute.cancel_task(task_id)
        except ComputeError as error:
            if error.status_code == 404:
                return  # nothing to cancel
            raise _compute_failure(error) from error

    # -- object store (sync: boto3, Pillow and the download run in the worker's threads) ------

    @activity.defn(name="generation.store_outputs")
    def store_outputs(self, data: StoreOutputsInput) -> list[StoredOutput]:
        """Each output stored as media through the one ingest path (see
        activities/generation_outputs.py)."""
        return ingest_outputs(self._outputs, data)
