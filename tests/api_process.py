"""`uvicorn api.main:app` as a real second API process, for tests that need one.

A separate process (its own event hub, pools and rate limiter) reading the same settings
(this session's database, Redis, bucket, Temporal) from the environment the `settings`
fixture exported; listening on a socket bound here to a free port. Its output goes to
`log_path` (the access log too, unless `access_log` is off).
"""

from __future__ import annotations

import contextlib
import os
import sys
from collections.abc import Iterator
from pathlib import Path

import httpx

from devstack.ports import bound_socket
from devstack.process import ManagedProcess


@contextlib.contextmanager
def api_process(
    log_path: Path, *, access_log: bool = False, log_level: str = "warning"
) -> Iterator[str]:
    """The running process's base URL (`http://127.0.0.1:port`); stopped on exit."""
    with bound_socket() as sock:
        base_url = f"http://127.0.0.1:{sock.getsockname()[1]}"
        command = [
            *(sys.executable, "-m", "uvicorn", "api.main:app", "--no-proxy-headers"),
            *("--fd", str(sock.fileno()), "--log-level", log_level),
        ]
        if not access_log:
            command.append("--no-access-log")
        server = ManagedProcess(
            "api",
            command,
            log_path=log_path,
            env=os.environ,
            pass_fds=(sock.fileno(),),
            stop_timeout=15,
            die_with_parent=True,
        )
        server.start()
        try:
            server.wait_healthy(
                lambda: httpx.get(f"{base_url}/api/v1/utils/health-check/", timeout=2).is_success,
                timeout=60,
            )
            yield base_url
        finally:
            server.stop()
