"""A complete, dedicated stack for the service-restart scenarios: its own Postgres, Redis and
S3 (devstack, so one of them can be stopped and started in place without disturbing the
session's services), the API served by uvicorn over real HTTP and WebSocket, the production
worker with its compute-event bridge on its own task queues and event stream, and a
compute_sim that publishes to the dedicated Redis but keeps its outputs in the session's
bucket (a real Compute Server has its own storage: our bucket being down does not stop it).
Temporal is the session's."""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import uuid
from collections.abc import AsyncIterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import uvicorn
from fastapi import FastAPI
from temporalio.client import Client
from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import WebSocketException

from compute_sim import ComputeSimServer
from core.config import Settings
from devstack import Stack
from devstack.database import migrate_database
from devstack.ports import bound_socket
from devstack.stack import SERVICE_VARS
from tests.helpers import Api, UserHandle
from tests.stack_fixtures import sim_baseline

APP_VARS = {key for keys in SERVICE_VARS.values() for key in keys}


@dataclass
class LiveStack:
    stack: Stack
    settings: Settings
    app: FastAPI
    api: Api
    base_url: str
    sim: ComputeSimServer
    bridge: Any
    temporal: Client


def _migrate(settings: Settings) -> None:
    migrate_database(settings.async_database_url, configure_logger=False)


@contextlib.asynccontextmanager
async def _serve(app: FastAPI) -> AsyncIterator[str]:
    """uvicorn on this event loop, on a port the OS picks (the caller runs the lifespan)."""

    class Server(uvicorn.Server):
        @contextlib.contextmanager
        def capture_signals(self) -> Any:
            yield  # a Ctrl-C stops pytest, not just this server

    sock = bound_socket()
    server = Server(
        uvicorn.Config(
            app, lifespan="off", log_level="warning", access_log=False, ws_ping_interval=None
        )
    )
    task = asyncio.create_task(server.serve(sockets=[sock]))
    try:
        async with asyncio.timeout(20):
            while not server.started:
                if task.done():
                    task.result()
                await asyncio.sleep(0.01)
        yield f"http://127.0.0.1:{sock.getsockname()[1]}"
    finally:
        server.should_exit = True
        with contextlib.suppress(asyncio.CancelledError, TimeoutError):
            await asyncio.wait_for(task, 10)
        sock.close()


@contextlib.asynccontextmanager
async def live_stack(base: Settings, temporal: Client, state_dir: Path) -> AsyncIterator[LiveStack]:
    from api.main import create_app
    from worker import MAX_CONCURRENT_ACTIVITIES, build_bridge, build_workers

    environ = {k: v for k, v in os.environ.items() if k not in APP_VARS}
    # Not ephemeral: production Postgres and Redis persist, so a clean restart keeps data.
    stack = Stack(state_dir, environ=environ, ephemeral=False, services=["postgres", "redis", "s3"])
    # In a thread: devstack's Postgres start runs its own event loop.
    env = await asyncio.to_thread(stack.start)
    try:
        run = uuid.uuid4().hex[:8]
        stream = f"compute:events:restarts-{run}"
        sim_settings = base.model_copy(
            update={"REDIS_URL": env["REDIS_URL"], "COMPUTE_EVENTS_STREAM": stream}
        )
        # Its outputs are in the session's bucket, not this stack's: like a Compute Server
        # with its own storage, it reports URLs only (fetched through the outbound guard,
        # which allows 127.0.0.1 in the tests).
        own_storage = sim_baseline().model_copy(update={"report_output_keys": False})
        with ComputeSimServer(sim_settings, own_storage) as sim:
            settings = base.model_copy(
                update={
                    "DATABASE_URL": env["DATABASE_URL"],
                    "REDIS_URL": env["REDIS_URL"],
                    **{key: env[key] for key in SERVICE_VARS["s3"]},
                    "TASK_QUEUE_PREFIX": f"restarts-{run}-",
                    "COMPUTE_EVENTS_STREAM": stream,
                    "COMPUTE_SERVER_API_URL": sim.url,
                    "GENERATION_POLL_INTERVAL_SECONDS": 2,
                }
            )
            await asyncio.to_thread(_migrate, settings)
            app = create_app(settings)
            with ThreadPoolExecutor(max_workers=MAX_CONCURRENT_ACTIVITIES) as executor:
                worker_set = build_workers(
                    temporal, settings, executor, task_queue_prefix=settings.TASK_QUEUE_PREFIX
                )
                bridge, bridge_redis = build_bridge(temporal, settings)
                bridge_task = asyncio.create_task(bridge.run())
                try:
                    async with (
                        contextlib.AsyncExitStack() as workers,
                        app.router.lifespan_context(app),
                        _serve(app) as base_url,
                        httpx.AsyncClient(base_url=base_url, timeout=30) as http,
                    ):
                        for w in worker_set.workers:
                            await workers.enter_async_context(w)
                        yield LiveStack(
                            stack,
                            settings,
                            app,
                            Api(http, settings),
                            base_url,
                            sim,
                            bridge,
                            temporal,
                        )
                finally:
                    bridge.stop()
                    bridge_task.cancel()
                    await asyncio.gather(bridge_task, return_exceptions=True)
                    await worker_set.close()
                    await bridge_redis.aclose()
    finally:
        await asyncio.to_thread(stack.stop)


class ReplayingSocket:
    """A WebSocket client as the live page is: it reconnects whenever the connection ends
    (or cannot be made), with `last_event_id` = the last event it received, and keeps every
    event message it got, in order."""

    def __init__(self, base_url: str, user: UserHandle, name: str) -> None:
        self.url = base_url.replace("http://", "ws://") + "/api/v1/ws"
        self.user = user
        self.name = name
        self.messages: list[dict[str, Any]] = []
        self.last_event_id: str | None = None
        self.connects = 0
        self.failed_connects = 0
        self.resyncs = 0
        self._conn: ClientConnection | None = None
        self._task: asyncio.Task[None] | None = None
        self._connected = asyncio.Event()

    async def start(self) -> None:
        self._task = asyncio.create_task(self._run(), name=f"ws-{self.name}")
        async with asyncio.timeout(10):
            await self._connected.wait()

    async def _run(self) -> None:
        while True:
            auth = {"type": "auth", "token": self.user.access_token}
            if self.last_event_id is not None:
                auth["last_event_id"] = self.last_event_id
            try:
                async with connect(self.url, open_timeout=5, max_queue=None) as conn:
                    await conn.send(json.dumps(auth))
                    hello = json.loads(await conn.recv())
                    if hello.get("type") != "auth.success":
                        raise ConnectionError(f"refused: {hello}")
                    if self.last_event_id is None:
                        self.last_event_id = hello["context"]["last_event_id"]
                    self._conn = conn
                    self.connects += 1
                    self._connected.set()
                    async for raw in conn:
                        self._take(json.loads(raw))
            except (WebSocketException, OSError, TimeoutError, ConnectionError):
                self.failed_connects += 1
            finally:
                self._conn = None
                self._connected.clear()
            await asyncio.sleep(0.2)

    def _take(self, message: dict[str, Any]) -> None:
        if message.get("type") == "resync":
            self.resyncs += 1
        if "id" in message:
            self.messages.append(message)
            self.last_event_id = message["id"]

    @property
    def connected(self) -> bool:
        return self._connected.is_set()

    async def drop(self) -> None:
        """Cut the connection (as an outage or a network change does); the loop reconnects."""
        conn = self._conn
        if conn is not None:
            await conn.close()

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)
        if self._conn is not None:
            await self._conn.close()

    def events(self, kind: str, generation_id: str) -> list[dict[str, Any]]:
        return [
            m
            for m in self.messages
            if m["type"] == f"generation.{kind}" and m["payload"]["id"] == generation_id
        ]
