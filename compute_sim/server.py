"""Run the simulator in a background thread (tests, `sartiq dev`, benchmarks)."""

from __future__ import annotations

import socket
import threading
import time
from typing import Any, Self

import httpx
import uvicorn

from compute_sim.app import create_app
from compute_sim.config import ConfigHolder, SimConfig
from core.config import Settings


class ComputeSimServer:
    """uvicorn serving the simulator on 127.0.0.1 (a free port unless one is given).

    The listening socket is bound here and handed to uvicorn, so the port is known before
    the thread starts and no other process can take it in between.
    """

    def __init__(
        self,
        settings: Settings,
        config: SimConfig | None = None,
        *,
        host: str = "127.0.0.1",
        port: int = 0,
        log_level: str = "warning",
    ) -> None:
        self.settings = settings
        self.host = host
        self.port = port
        self.app = create_app(settings, config)
        self._log_level = log_level
        self._server: uvicorn.Server | None = None
        self._thread: threading.Thread | None = None
        self._socket: socket.socket | None = None
        self.url: str | None = None

    @property
    def _holder(self) -> ConfigHolder:
        return self.app.state.config

    @property
    def config(self) -> SimConfig:
        return self._holder.get()

    @config.setter
    def config(self, config: SimConfig) -> None:
        self._holder.set(config)

    def set_config(self, **knobs: Any) -> SimConfig:
        """Change some knobs (validated; unknown names raise KeyError) for new tasks."""
        return self._holder.update(knobs)

    def start(self, timeout: float = 20.0) -> str:
        """Start serving; returns the base URL once /health answers."""
        if self._thread is not None:
            raise RuntimeError("ComputeSimServer already started")
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind((self.host, self.port))
        self._socket = sock
        self.port = sock.getsockname()[1]
        self.url = f"http://{self.host}:{self.port}"
        config = uvicorn.Config(
            self.app, log_level=self._log_level, access_log=False, lifespan="on"
        )
        self._server = uvicorn.Server(config)
        self._thread = threading.Thread(
            target=self._server.run,
            kwargs={"sockets": [sock]},
            name=f"compute-sim:{self.port}",
            daemon=True,  # never keeps a test run alive
        )
        self._thread.start()
        self._wait_healthy(timeout)
        return self.url

    def _wait_healthy(self, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        with httpx.Client(timeout=1.0) as client:
            while True:
                if self._thread is None or not self._thread.is_alive():
                    self.stop()
                    raise RuntimeError("compute_sim exited during startup (see its log)")
                try:
                    started = self._server is not None and self._server.started
                    if started and client.get(f"{self.url}/health").is_success:
                        return
                except httpx.HTTPError:
                    pass
                if time.monotonic() > deadline:
                    self.stop()
                    raise RuntimeError(f"compute_sim not healthy at {self.url} in {timeout}s")
                time.sleep(0.05)

    def stop(self, timeout: float = 10.0) -> None:
        if self._server is not None:
            self._server.should_exit = True
        if self._thread is not None:
            self._thread.join(timeout)
        if self._socket is not None:
            self._socket.close()
        self._server = self._thread = self._socket = None

    def __enter__(self) -> Self:
        self.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.stop()
