"""`uvicorn api.main:app` as a real second API process, for tests that need one.

A separate process (its own event hub, pools and rate limiter) reading the same settings
(this session's database, Redis, bucket, Temporal) from the environment the `settings`
fixture exported; listening on a socket bound here to a free port. Its output goes to
`log_path` (the access log too, unless `access_log` is off).
"""

from __future__ import annotations

import contextlib
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx


@contextlib.contextmanager
def api_process(
    log_path: Path, *, access_log: bool = False, log_level: str = "warning"
) -> Iterator[str]:
    """The running process's base URL (`http://127.0.0.1:port`); stopped on exit."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    command = [
        *(sys.executable, "-m", "uvicorn", "api.main:app", "--no-proxy-headers"),
        *("--fd", str(sock.fileno()), "--log-level", log_level),
    ]
    if not access_log:
        command.append("--no-access-log")
    with log_path.open("wb") as log:
        server = subprocess.Popen(
            command, pass_fds=(sock.fileno(),), stdout=log, stderr=subprocess.STDOUT
        )
    base_url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while True:
            if server.poll() is not None:
                raise RuntimeError(f"the API exited with {server.returncode}: {log_path}")
            with contextlib.suppress(httpx.HTTPError):
                if httpx.get(f"{base_url}/api/v1/utils/health-check/", timeout=2).is_success:
                    break
            if time.monotonic() > deadline:
                raise TimeoutError(f"the API did not start within 60 s: {log_path}")
            time.sleep(0.1)
        yield base_url
    finally:
        server.terminate()
        try:
            server.wait(15)
        except subprocess.TimeoutExpired:
            server.kill()
            server.wait()
        sock.close()
