"""Helpers for the compute_sim tests: polling with deadlines, stream reads, a receiver."""

from __future__ import annotations

import asyncio
import http.server
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from redis.asyncio import Redis

from core.compute import TERMINAL_STATUSES, ComputeClient, TaskCreate, TaskEvent, TaskState

DEADLINE_S = 15.0


def new_task(**overrides: Any) -> TaskCreate:
    """A small generation task (tiny images keep the suite fast)."""
    body: dict[str, Any] = {
        "type": "generation",
        "entity_id": f"gen-{uuid.uuid4().hex[:12]}",
        "inputs": {"prompt": "a linen dress, studio light"},
        "num_outputs": 1,
        "output": {"width": 96, "height": 64, "format": "png"},
    }
    body.update(overrides)
    return TaskCreate.model_validate(body)


def key() -> str:
    return f"test-{uuid.uuid4()}"


async def wait_finished(compute: ComputeClient, task_id: str) -> TaskState:
    deadline = time.monotonic() + DEADLINE_S
    while True:
        state = await compute.get_task(task_id)
        if state.status in TERMINAL_STATUSES:
            return state
        if time.monotonic() > deadline:
            raise AssertionError(f"task {task_id} still {state.status} after {DEADLINE_S}s")
        await asyncio.sleep(0.02)


async def task_events(redis: Redis, stream: str, task_id: str) -> list[TaskEvent]:
    """This task's events, in stream order."""
    entries = await redis.xrange(stream)
    events = [TaskEvent.from_fields(fields) for _, fields in entries]
    return [event for event in events if event.task_id == task_id]


async def wait_events(
    redis: Redis,
    stream: str,
    task_id: str,
    until: Callable[[list[TaskEvent]], bool],
) -> list[TaskEvent]:
    deadline = time.monotonic() + DEADLINE_S
    while True:
        events = await task_events(redis, stream, task_id)
        if until(events):
            return events
        if time.monotonic() > deadline:
            types = [event.event_type for event in events]
            raise AssertionError(f"events of {task_id} never matched; got {types}")
        await asyncio.sleep(0.02)


def has(event_type: str, count: int = 1) -> Callable[[list[TaskEvent]], bool]:
    return lambda events: sum(e.event_type == event_type for e in events) >= count


@dataclass
class Delivery:
    headers: dict[str, str]
    body: bytes


class WebhookReceiver:
    """A plain http.server in a thread that records every POST and answers 204."""

    def __init__(self) -> None:
        self.deliveries: list[Delivery] = []
        lock = threading.Lock()
        deliveries = self.deliveries

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
                with lock:
                    deliveries.append(Delivery(dict(self.headers.items()), body))
                self.send_response(204)
                self.end_headers()

            def log_message(self, format: str, *args: Any) -> None:
                pass  # keep test output clean

        self._server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self._server.server_address[1]}/api/v1/tasks/webhook"
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    def __enter__(self) -> WebhookReceiver:
        self._thread.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(5)

    async def wait_for(self, predicate: Callable[[list[Delivery]], bool]) -> list[Delivery]:
        deadline = time.monotonic() + DEADLINE_S
        while True:
            snapshot = list(self.deliveries)
            if predicate(snapshot):
                return snapshot
            if time.monotonic() > deadline:
                raise AssertionError(f"webhook deliveries never matched ({len(snapshot)} seen)")
            await asyncio.sleep(0.02)
