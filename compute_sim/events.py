"""Task events: XADD to the Redis stream and POST to the webhook, with the fault knobs
(drop, duplicate, reorder) applied per task."""

from __future__ import annotations

import asyncio
import logging
import random
from collections.abc import Callable

import httpx
from redis.asyncio import Redis
from redis.exceptions import RedisError

from compute_sim.config import SimConfig
from core.compute import TERMINAL_STATUSES, WEBHOOK_SIGNATURE_HEADER, TaskEvent, sign_webhook

log = logging.getLogger("compute_sim.events")


class EventPublisher:
    """Delivers one event to both channels. Neither channel failing fails the task:
    events are hints and the backend polls as a fallback (DESIGN §6)."""

    def __init__(
        self,
        *,
        redis: Redis,
        stream: str,
        webhook_secret: str,
        http: httpx.AsyncClient,
        config: Callable[[], SimConfig],
    ) -> None:
        self._redis = redis
        self._stream = stream
        self._secret = webhook_secret
        self._http = http
        self._config = config

    @property
    def stream(self) -> str:
        return self._stream

    async def publish(self, event: TaskEvent) -> None:
        config = self._config()
        try:
            await self._redis.xadd(
                self._stream,
                event.to_stream_fields(),  # type: ignore[arg-type]
                maxlen=config.events_maxlen,
                approximate=True,
            )
        except (RedisError, OSError) as exc:
            log.warning("XADD %s for task %s failed: %s", event.event_type, event.task_id, exc)
        if config.webhook_url:
            await self._post_webhook(config.webhook_url, config.webhook_timeout_s, event)

    async def _post_webhook(self, url: str, timeout_s: float, event: TaskEvent) -> None:
        body = event.model_dump_json().encode()
        headers = {
            "Content-Type": "application/json",
            WEBHOOK_SIGNATURE_HEADER: sign_webhook(self._secret, body),
        }
        try:
            response = await self._http.post(url, content=body, headers=headers, timeout=timeout_s)
        except httpx.HTTPError as exc:
            log.warning("webhook %s for task %s failed: %r", url, event.task_id, exc)
            return
        if not response.is_success:
            log.warning(
                "webhook %s for task %s answered %s", url, event.task_id, response.status_code
            )


class TaskEventEmitter:
    """The events of one task, in order, through the fault knobs.

    Emission is serialised per task (the runner and a cancel request may race), and
    every random draw uses the task's RNG so a seeded task drops/duplicates the same
    events on every run.
    """

    def __init__(
        self,
        publisher: EventPublisher,
        rng: random.Random,
        *,
        drop_rate: float,
        duplicate_rate: float,
        reorder: bool,
    ) -> None:
        self._publisher = publisher
        self._rng = rng
        self._drop_rate = drop_rate
        self._duplicate_rate = duplicate_rate
        self._reorder = reorder
        self._held: TaskEvent | None = None
        self._seq = 0
        self._lock = asyncio.Lock()

    async def emit(self, event: TaskEvent) -> None:
        async with self._lock:
            self._seq += 1
            event = event.model_copy(update={"seq": self._seq})
            for item in self._release(event):
                if self._draw(self._drop_rate):
                    continue
                await self._publisher.publish(item)
                if self._draw(self._duplicate_rate):
                    await self._publisher.publish(item)

    def _release(self, event: TaskEvent) -> list[TaskEvent]:
        """Which events go out now. With reorder on, each event is held back until the
        next one has gone out (pairs swap), and the terminal event overtakes whatever is
        held: the harmful case of a stale progress arriving after completion."""
        if not self._reorder:
            return [event]
        held, self._held = self._held, None
        if event.status in TERMINAL_STATUSES:
            return [event] if held is None else [event, held]
        if held is None:
            self._held = event
            return []
        return [event, held]

    def _draw(self, rate: float) -> bool:
        # No draw at 0 or 1, so turning a knob fully on/off leaves other draws unchanged.
        if rate <= 0.0:
            return False
        if rate >= 1.0:
            return True
        return self._rng.random() < rate
