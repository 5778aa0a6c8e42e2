"""A real HTTP/WebSocket server for the in-process app, for socket tests.

uvicorn runs as a task on the test's own event loop (not in a thread): the app's Redis
client, engine and event hub were created by the `app` fixture on this loop and cannot be
used from another. The lifespan is off because that fixture already ran it.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Iterator

import uvicorn
from fastapi import FastAPI

from devstack.ports import bound_socket


class _Server(uvicorn.Server):
    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        yield  # leave Ctrl-C to pytest


@contextlib.asynccontextmanager
async def serve(app: FastAPI, *, host: str = "127.0.0.1") -> AsyncIterator[str]:
    """Serve `app` on a port the OS picks; yields the base URL (`http://host:port`)."""
    sock = bound_socket(host)
    port = sock.getsockname()[1]
    config = uvicorn.Config(app, lifespan="off", log_level="warning", ws_ping_interval=None)
    server = _Server(config)
    task = asyncio.create_task(server.serve(sockets=[sock]), name="uvicorn")
    try:
        async with asyncio.timeout(10):
            while not server.started:
                if task.done():
                    task.result()  # raises why it could not start
                await asyncio.sleep(0.01)
        yield f"http://{host}:{port}"
    finally:
        server.should_exit = True
        with contextlib.suppress(asyncio.CancelledError):
            await asyncio.wait_for(task, 10)
        sock.close()
