"""Helpers of the worker-kill scenario: the kill worker as a supervised subprocess, the
history facts that prove a kill hit its boundary, the org's event stream, a local image
server (bulk uploads) and a webhook receiver (exports)."""

from __future__ import annotations

import asyncio
import contextlib
import io
import json
import signal
import threading
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

from PIL import Image
from redis.asyncio import Redis
from temporalio.api.enums.v1 import EventType
from temporalio.client import WorkflowHandle

from core.config import Settings
from services.export_webhook import DELIVERY_HEADER, SIGNATURE_HEADER, verify
from tests.chaos.kill_worker import CAP_ENV, KILL_DIR_ENV, TARGETS_FILE, WINDOW_ENV, marker_name
from tests.helpers import WorkerProcess


class KillWorker(WorkerProcess):
    """`python -m tests.chaos.kill_worker` on `prefix`-ed task queues, restarted by
    `supervise()` each time it killed itself; any other exit is a failure."""

    command = ("-m", "tests.chaos.kill_worker")

    def __init__(
        self,
        settings: Settings,
        prefix: str,
        directory: Path,
        *,
        cap_seconds: float,
        window_seconds: float,
    ) -> None:
        self.directory = directory
        self.directory.mkdir(parents=True, exist_ok=True)
        # The environment `python worker.py` gets in the generation fault tests, plus ours.
        super().__init__(
            settings,
            prefix,
            directory / "worker.log",
            env={
                KILL_DIR_ENV: str(directory),
                CAP_ENV: str(cap_seconds),
                WINDOW_ENV: str(window_seconds),
                "OUTBOUND_ALLOWED_HOSTS": "127.0.0.1",  # the image server and webhook receivers
            },
        )
        self.targets: dict[str, str] = {}
        self.kills = 0
        self.crashes: list[int] = []  # exit codes other than our SIGKILL

    def target(self, workflow_id: str, activity_type: str) -> None:
        """Arm one kill: after `activity_type` of `workflow_id` (written before the start)."""
        self.targets[workflow_id] = activity_type
        tmp = self.directory / (TARGETS_FILE + ".tmp")
        tmp.write_text(json.dumps(self.targets))
        tmp.replace(self.directory / TARGETS_FILE)  # atomic: the worker may read it any time

    def killed(self, workflow_id: str, activity_type: str) -> bool:
        return (self.directory / marker_name(workflow_id, activity_type)).exists()

    async def supervise(self) -> None:
        """Restart the worker as soon as it died (until cancelled)."""
        while True:
            assert self.popen is not None
            code = self.poll()
            if code is not None:
                if code == -signal.SIGKILL:
                    self.kills += 1
                else:
                    self.crashes.append(code)
                self.start()
            await asyncio.sleep(0.05)


async def max_attempt(handle: WorkflowHandle, activity_type: str) -> int:
    """The highest attempt number any activity of that type started with in the run's
    history (0: never ran). A kill at its boundary makes it at least 2."""
    kinds: dict[int, str] = {}
    best = 0
    async for event in handle.fetch_history_events():
        if event.event_type == EventType.EVENT_TYPE_ACTIVITY_TASK_SCHEDULED:
            kinds[event.event_id] = (
                event.activity_task_scheduled_event_attributes.activity_type.name
            )
        elif event.event_type == EventType.EVENT_TYPE_ACTIVITY_TASK_STARTED:
            started = event.activity_task_started_event_attributes
            if kinds.get(started.scheduled_event_id) == activity_type:
                best = max(best, started.attempt)
    return best


async def entity_events(redis: Redis, org: str, prefix: str, entity_id: str) -> list[dict]:
    """Every `<prefix>.*` message about one entity in the org's event stream."""
    found = []
    for _id, fields in await redis.xrange(f"events:org:{org}"):
        message = json.loads(fields[b"m"])
        if message["type"].startswith(prefix) and message["payload"].get("id") == entity_id:
            found.append(message)
    return found


def repeated(messages: list[dict]) -> int:
    """Messages published more than once (same type and payload): each extra copy counts."""
    seen = Counter(json.dumps([m["type"], m["payload"]], sort_keys=True) for m in messages)
    return sum(n - 1 for n in seen.values())


def png(seed: int) -> bytes:
    """A small PNG whose content (so its MD5) is unique to `seed`."""
    out = io.BytesIO()
    Image.new("RGB", (24, 24), (seed % 251, (seed * 7) % 251, (seed * 13) % 251)).save(out, "PNG")
    return out.getvalue()


@contextlib.contextmanager
def image_server() -> Iterator[str]:
    """GET /img/<n>.png answers png(n); yields the base URL."""

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            name = self.path.rsplit("/", 1)[-1].removesuffix(".png")
            body = png(int(name)) if name.isdigit() else b""
            self.send_response(200 if body else 404)
            self.send_header("Content-Type", "image/png")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args: Any) -> None:
            pass

    with _serving(Handler) as base:
        yield base


@dataclass
class Receiver:
    """Webhook deliveries by delivery id (`<export id>:<index>`); every signature checked."""

    secret: str
    url: str = ""
    posts: Counter[str] = field(default_factory=Counter)
    bad_signatures: int = 0
    truncated: int = 0
    lock: threading.Lock = field(default_factory=threading.Lock)

    def for_export(self, export_id: str) -> Counter[str]:
        with self.lock:
            return Counter({k: n for k, n in self.posts.items() if k.startswith(f"{export_id}:")})


@contextlib.contextmanager
def webhook_receiver(secret: str) -> Iterator[Receiver]:
    state = Receiver(secret)

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            length = int(self.headers["Content-Length"])
            body = self.rfile.read(length)
            if len(body) < length:
                # The sender died mid-request (a kill during the POST): nothing arrived.
                with state.lock:
                    state.truncated += 1
                return
            ok = verify(body, secret, self.headers.get(SIGNATURE_HEADER))
            with state.lock:
                if ok:
                    state.posts[self.headers[DELIVERY_HEADER]] += 1
                else:
                    state.bad_signatures += 1
            self.send_response(200 if ok else 401)
            self.send_header("Content-Length", "0")
            self.end_headers()

        def log_message(self, *args: Any) -> None:
            pass

    with _serving(Handler) as base:
        state.url = f"{base}/hooks/sartiq"
        yield state


@contextlib.contextmanager
def _serving(handler: type[BaseHTTPRequestHandler]) -> Iterator[str]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    server.daemon_threads = True
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()
