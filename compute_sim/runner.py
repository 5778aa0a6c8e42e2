"""Task execution: pending -> running (progress) -> completed | failed | cancelled, each
change announced through the task's event emitter."""

from __future__ import annotations

import asyncio
import logging
import random
import uuid
from collections.abc import Callable, Coroutine
from typing import Any

import httpx
from PIL import Image

from compute_sim import inputs as task_inputs
from compute_sim import render, transform
from compute_sim.config import SimConfig, TaskSim, rate
from compute_sim.events import EventPublisher, TaskEventEmitter
from compute_sim.store import SimTask, StoredImage, TaskPlan, utcnow
from core.compute import EventType, TaskCreate, TaskEvent

log = logging.getLogger("compute_sim.runner")

DEFAULT_FAILURE_MESSAGE = "Simulated provider failure"


class _Cancelled(Exception):
    """The task was cancelled while the runner waited; the cancel path already reported it."""


class TaskFailure(Exception):
    """The task's work failed for a reason the caller should see (bad input, ...)."""

    def __init__(self, message: str, category: str) -> None:
        super().__init__(message)
        self.message = message
        self.category = category


def task_rng(inputs: dict[str, Any]) -> random.Random:
    """Seeded by `inputs.seed` when given (reproducible runs), else from the OS."""
    seed = inputs.get("seed")
    if isinstance(seed, int) and not isinstance(seed, bool):
        return random.Random(seed)
    return random.Random()


def make_plan(
    config: SimConfig, sim: TaskSim | None, rng: random.Random, provider: str | None = None
) -> TaskPlan:
    """Fix the task's fate now: per-task `sim` fields win over the server-wide knobs."""
    sim = sim or TaskSim()
    if sim.fail_provider is not None and sim.fail_provider == provider:
        sim = sim.model_copy(
            update={
                "fail": f"Provider {provider} is unavailable",
                "error_category": "provider_error",
            }
        )
    if sim.fail is None:
        failing = config.failure_rate > 0 and rng.random() < config.failure_rate
        fail_message = DEFAULT_FAILURE_MESSAGE if failing else None
    elif sim.fail is True:
        fail_message = DEFAULT_FAILURE_MESSAGE
    else:
        fail_message = sim.fail or None  # False or "" never fails; text is the message
    if sim.stuck is None:
        stuck = config.stuck_rate > 0 and rng.random() < config.stuck_rate
    else:
        stuck = sim.stuck
    return TaskPlan(
        latency_s=(sim.latency_ms if sim.latency_ms is not None else config.latency_ms) / 1000,
        progress_steps=(
            sim.progress_steps if sim.progress_steps is not None else config.progress_steps
        ),
        fail_message=fail_message,
        error_category=sim.error_category or config.error_category,
        stuck=stuck,
        drop_rate=rate(sim.drop_events, config.drop_event_rate),
        duplicate_rate=rate(sim.duplicate_events, config.duplicate_event_rate),
        reorder=sim.reorder_events if sim.reorder_events is not None else config.reorder_events,
        score=sim.score,
        scores=tuple(sim.scores or ()),
        caption=sim.caption,
        broken_output=sim.broken_output,
    )


def _evaluation_urls(inputs: dict[str, Any]) -> list[str]:
    many = inputs.get("image_urls")
    urls = [u for u in many if isinstance(u, str)] if isinstance(many, list) else []
    one = inputs.get("image_url")
    return [*urls, one] if isinstance(one, str) else urls


class TaskRunner:
    def __init__(
        self,
        *,
        publisher: EventPublisher,
        s3: Any,
        bucket: str,
        http: httpx.AsyncClient,
        config: Callable[[], SimConfig],
    ) -> None:
        self._publisher = publisher
        self._s3 = s3
        self._bucket = bucket
        self._http = http
        self._config = config
        self._running: set[asyncio.Task[None]] = set()

    def new_task(self, body: TaskCreate, sim: TaskSim | None, key: str | None) -> SimTask:
        config = self._config()
        rng = task_rng(body.inputs)
        model = body.inputs.get("model")
        provider = model.get("provider") if isinstance(model, dict) else None
        plan = make_plan(config, sim, rng, provider)
        emitter = TaskEventEmitter(
            self._publisher,
            rng,
            drop_rate=plan.drop_rate,
            duplicate_rate=plan.duplicate_rate,
            reorder=plan.reorder,
        )
        return SimTask(
            id=str(uuid.uuid4()),
            type=body.type,
            entity_id=body.entity_id,
            inputs=body.inputs,
            num_outputs=body.num_outputs,
            width=body.output.width,
            height=body.output.height,
            format=body.output.format,
            plan=plan,
            rng=rng,
            emitter=emitter,
            idempotency_key=key,
        )

    def start(self, task: SimTask) -> None:
        self._spawn(self._run(task), f"compute-sim-{task.id}")

    def cancel(self, task: SimTask) -> None:
        """Cancel a pending/running task; a finished one is left as it is."""
        if task.finished:
            return
        task.status = "cancelled"
        task.completed_at = utcnow()
        task.cancel_requested.set()
        # Emitted in the background: the cancel answer must not wait on a slow webhook.
        event = self._event(task, "task.cancelled")
        self._spawn(task.emitter.emit(event), f"compute-sim-cancel-{task.id}")

    def _spawn(self, work: Coroutine[Any, Any, None], name: str) -> None:
        job = asyncio.create_task(work, name=name)
        # Keep a reference: the loop holds tasks weakly, an unreferenced one may vanish.
        self._running.add(job)
        job.add_done_callback(self._running.discard)

    async def shutdown(self) -> None:
        jobs = list(self._running)
        for job in jobs:
            job.cancel()
        await asyncio.gather(*jobs, return_exceptions=True)

    # --- lifecycle ------------------------------------------------------------------

    async def _run(self, task: SimTask) -> None:
        try:
            await self._execute(task)
        except _Cancelled:
            return
        except TaskFailure as failure:
            await self._finish(task, "failed", message=failure.message, category=failure.category)
        except Exception as exc:
            log.exception("task %s crashed", task.id)
            await self._finish(
                task, "failed", message=f"Internal error: {exc}", category="internal_error"
            )

    async def _execute(self, task: SimTask) -> None:
        plan = task.plan
        if task.finished:
            return  # cancelled before it started
        task.status, task.started_at = "running", utcnow()
        await task.emitter.emit(self._event(task, "task.started"))
        if plan.stuck:
            await self._pause(task, None)
        steps = plan.progress_steps
        delay = plan.latency_s / (steps + 1)
        # A failing task gets half-way before it fails, like a provider erroring mid-run.
        shown = steps // 2 if plan.fail_message else steps
        for step in range(1, shown + 1):
            await self._pause(task, delay)
            task.progress = round(step / (steps + 1), 4)
            await task.emitter.emit(self._event(task, "task.progress"))
        await self._pause(task, delay)
        if plan.fail_message:
            raise TaskFailure(plan.fail_message, plan.error_category)
        await self._produce(task)
        await self._finish(task, "completed")

    async def _finish(
        self,
        task: SimTask,
        status: str,
        *,
        message: str | None = None,
        category: str | None = None,
    ) -> None:
        if task.finished:
            return  # cancelled meanwhile: the cancel already emitted the final event
        task.status, task.completed_at = status, utcnow()
        task.error_message, task.error_category = message, category
        if status == "completed":
            task.progress = 1.0
        await task.emitter.emit(self._event(task, f"task.{status}"))  # type: ignore[arg-type]

    async def _pause(self, task: SimTask, seconds: float | None) -> None:
        """Sleep `seconds` (None: forever), cut short by a cancel."""
        if seconds is not None and seconds <= 0:
            await asyncio.sleep(0)
        else:
            try:
                await asyncio.wait_for(task.cancel_requested.wait(), timeout=seconds)
            except TimeoutError:
                return
        if task.cancel_requested.is_set():
            raise _Cancelled

    def _event(self, task: SimTask, event_type: EventType) -> TaskEvent:
        return TaskEvent(
            event_type=event_type,
            task_id=task.id,
            status=task.status,  # type: ignore[arg-type]
            task_type=task.type,
            entity_id=task.entity_id,
            progress=task.progress,
            error_message=task.error_message,
            error_category=task.error_category,
        )

    # --- work -----------------------------------------------------------------------

    async def _produce(self, task: SimTask) -> None:
        if task.type == "generation":
            await self._generate(task)
        elif task.type == "caption":
            await self._caption(task)
        else:
            self._evaluate(task)
        if task.cancel_requested.is_set():
            raise _Cancelled

    async def _generate(self, task: SimTask) -> None:
        base = task.inputs.get("seed")
        if isinstance(base, int) and not isinstance(base, bool):
            seeds = [base + i for i in range(task.num_outputs)]
        else:
            seeds = [task.rng.randrange(2**31) for _ in range(task.num_outputs)]
        source = await self._source(task.inputs)
        urls = [] if source is not None else task_inputs.reference_urls(task.inputs)
        references = await self._references(urls)
        scene = task_inputs.scene(task.inputs)
        prompt = str(task.inputs.get("prompt") or "")
        shape = {"width": task.width, "height": task.height, "fmt": task.format}
        images: list[StoredImage] = []
        for index, seed in enumerate(seeds):
            if source is not None:
                strategy = task_inputs.strategy(task.inputs)
                data = await asyncio.to_thread(
                    transform.transform_source,
                    source,
                    strategy=strategy,
                    seed=seed,
                    prompt=prompt,
                    scene=scene,
                    **shape,
                )
            else:
                data = await asyncio.to_thread(
                    render.render_generation,
                    **shape,
                    seed=seed,
                    prompt=prompt,
                    entity_id=task.entity_id,
                    references=references,
                    scene=scene,
                )
            key = f"compute/{task.id}/{index}.{task.format}"
            broken = task.plan.broken_output
            if broken == "not_image":
                data = b"this is not an image " * 8
            if broken != "missing":
                await asyncio.to_thread(
                    self._s3.put_object,
                    Bucket=self._bucket,
                    Key=key,
                    Body=data,
                    ContentType=render.CONTENT_TYPES[task.format],
                )
            images.append(StoredImage(key=key, seed=seed))
            if task.cancel_requested.is_set():
                raise _Cancelled
        task.images = images

    async def _source(self, inputs: dict[str, Any]) -> Image.Image | None:
        """The image a strategy with a source works on; such a task without a readable one
        fails (`invalid_input`), as a real image tool would."""
        if task_inputs.strategy(inputs) not in task_inputs.SOURCE_STRATEGIES:
            return None
        url = task_inputs.source_url(inputs)
        if url is None:
            raise TaskFailure("source_image is missing", "invalid_input")
        try:
            return await asyncio.to_thread(render.decode_image, await self._fetch(url))
        except Exception as exc:
            raise TaskFailure(f"source_image unreadable: {exc!r}", "invalid_input") from exc

    async def _references(self, urls: list[str]) -> list[Image.Image]:
        """Reference images as thumbnails; one that cannot be fetched is left out."""

        async def one(url: str) -> Image.Image | None:
            try:
                data = await self._fetch(url)
                return await asyncio.to_thread(render.decode_image, data, max_side=512)
            except Exception as exc:  # any bad reference is skipped, never fatal
                log.info("reference image %s skipped: %r", url, exc)
                return None

        found = await asyncio.gather(*(one(url) for url in urls))
        return [image for image in found if image is not None]

    async def _caption(self, task: SimTask) -> None:
        if task.plan.caption is not None:
            task.text = task.plan.caption
            return
        url = str(task.inputs.get("image_url"))
        try:
            data = await self._fetch(url)
        except (httpx.HTTPError, ValueError) as exc:
            raise TaskFailure(f"Could not fetch image_url: {exc!r}", "invalid_input") from exc
        try:
            task.text = await asyncio.to_thread(render.describe_image, data)
        except (OSError, ValueError, Image.DecompressionBombError) as exc:
            raise TaskFailure(f"image_url is not a readable image: {exc}", "invalid_input") from exc

    def _evaluate(self, task: SimTask) -> None:
        plan = task.plan
        if plan.score is not None:
            task.score = plan.score
        elif plan.scores:
            task.score = plan.scores[min(task.attempt, len(plan.scores) - 1)]
        else:
            seed = task.inputs.get("seed")
            task.score = render.evaluation_score(
                _evaluation_urls(task.inputs),
                seed if isinstance(seed, int) else None,
                fallback=task.entity_id,
            )

    async def _fetch(self, url: str) -> bytes:
        config = self._config()
        chunks: list[bytes] = []
        size = 0
        async with self._http.stream("GET", url, timeout=config.input_timeout_s) as response:
            response.raise_for_status()
            async for chunk in response.aiter_bytes():
                size += len(chunk)
                if size > config.max_input_bytes:
                    raise ValueError(f"larger than {config.max_input_bytes} bytes")
                chunks.append(chunk)
        return b"".join(chunks)
