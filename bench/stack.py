"""The system under measurement, laid out as in production: the API (uvicorn), the worker
(`python worker.py`, with the compute-event bridge) and compute_sim each in their own
process, plus a bare-workflow worker for the baselines; Postgres, Redis, S3 and Temporal
embedded (devstack, in a temporary directory) unless DATABASE_URL, REDIS_URL,
R2_ENDPOINT_URL and TEMPORAL_ADDRESS all point at running services.

Either way the bench works in a throwaway database (created, migrated, dropped), on its own
task-queue prefix and compute-event stream, so a running `sartiq dev` is not disturbed.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import AsyncIterator, Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

ROOT = Path(__file__).resolve().parent.parent
SERVICE_VARS = {
    "postgres": "DATABASE_URL",
    "redis": "REDIS_URL",
    "s3": "R2_ENDPOINT_URL",
    "temporal": "TEMPORAL_ADDRESS",
}
Log = Callable[[str], None]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def plain_pg(url: str) -> str:
    """An asyncpg/libpq URL (SQLAlchemy's driver suffix removed)."""
    return url.replace("postgresql+asyncpg://", "postgresql://")


def with_database(url: str, name: str) -> str:
    base, _, query = url.partition("?")
    base = base.rsplit("/", 1)[0] if base.count("/") > 2 else base
    return f"{base}/{name}" + (f"?{query}" if query else "")


async def admin_sql(server_url: str, statement: str) -> None:
    import asyncpg

    conn = await asyncpg.connect(plain_pg(server_url))
    try:
        await conn.execute(statement)
    finally:
        await conn.close()


@contextlib.contextmanager
def services(state_dir: Path, log: Log) -> Iterator[dict[str, str]]:
    """The connection variables of every service, starting embedded ones where none is given."""
    env = {k: v for k, v in os.environ.items() if k.startswith(("R2_", "TEMPORAL_"))}
    env.update({var: os.environ[var] for var in SERVICE_VARS.values() if os.environ.get(var)})
    missing = [svc for svc, var in SERVICE_VARS.items() if not os.environ.get(var)]
    if not missing:
        log("using the services of the environment")
        yield env
        return
    from devstack import Stack

    log(f"starting embedded {', '.join(missing)}")
    began = time.monotonic()
    with Stack(state_dir, ephemeral=True, services=missing, log=lambda _line: None) as started:
        env.update(started.as_env())
        log(f"services up in {time.monotonic() - began:.1f}s")
        yield env


@dataclass
class Child:
    """A child process in its own process group, its output in a log file."""

    name: str
    argv: list[str]
    env: dict[str, str]
    log_path: Path
    proc: subprocess.Popen[bytes] | None = None
    _log: IO[bytes] | None = None

    def start(self) -> None:
        from devstack.supervisor import die_with_parent

        self._log = self.log_path.open("ab")
        self.proc = subprocess.Popen(
            self.argv,
            cwd=ROOT,
            env=self.env,
            stdout=self._log,
            stderr=subprocess.STDOUT,
            # Own group (Ctrl-C reaches the bench, which stops its children in order), and
            # SIGTERM if the bench dies without doing so: no process outlives a run.
            start_new_session=True,
            preexec_fn=die_with_parent,
        )

    @property
    def pid(self) -> int:
        assert self.proc is not None
        return self.proc.pid

    def check(self) -> None:
        if self.proc is not None and self.proc.poll() is not None:
            tail = self.log_path.read_text(errors="replace")[-3000:]
            raise RuntimeError(f"{self.name} exited with {self.proc.returncode}:\n{tail}")

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.proc.pid, signal.SIGTERM)
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait(timeout=5)
        if self._log is not None:
            self._log.close()
            self._log = None


@dataclass
class BenchStack:
    """What every benchmark gets: the API URL, the children, a Temporal client, settings."""

    settings: Any
    env: dict[str, str]
    api_url: str
    sim_url: str
    client: Any
    children: dict[str, Child] = field(default_factory=dict)

    @property
    def prefix(self) -> str:
        return str(self.settings.TASK_QUEUE_PREFIX)

    def check(self) -> None:
        for child in self.children.values():
            child.check()


async def wait_http(url: str, child: Child, within: float = 60) -> None:
    import httpx

    deadline = time.monotonic() + within
    async with httpx.AsyncClient(timeout=2) as http:
        while time.monotonic() < deadline:
            child.check()
            with contextlib.suppress(httpx.HTTPError):
                if (await http.get(url)).status_code < 500:
                    return
            await asyncio.sleep(0.2)
    raise RuntimeError(f"{child.name} not healthy at {url} after {within:.0f}s")


async def _wait_pollers(client: Any, queue: str, child: Child, within: float = 60) -> None:
    """Until a worker polls `queue` (so the first measured run does not wait for startup)."""
    from temporalio.api.enums.v1 import TaskQueueType
    from temporalio.api.taskqueue.v1 import TaskQueue
    from temporalio.api.workflowservice.v1 import DescribeTaskQueueRequest

    deadline = time.monotonic() + within
    while time.monotonic() < deadline:
        child.check()
        for kind in (
            TaskQueueType.TASK_QUEUE_TYPE_WORKFLOW,
            TaskQueueType.TASK_QUEUE_TYPE_ACTIVITY,
        ):
            response = await client.workflow_service.describe_task_queue(
                DescribeTaskQueueRequest(
                    namespace=client.namespace,
                    task_queue=TaskQueue(name=queue),
                    task_queue_type=kind,
                )
            )
            if not response.pollers:
                break
        else:
            return
        await asyncio.sleep(0.3)
    raise RuntimeError(f"no worker polls {queue} after {within:.0f}s")


@contextlib.asynccontextmanager
async def running(
    service_env: dict[str, str], workdir: Path, log: Log
) -> AsyncIterator[BenchStack]:
    """A throwaway database and the API, worker, compute_sim and bare worker processes."""
    from cli import migrate_database
    from core.config import Settings
    from core.temporal import GENERATIONS_QUEUE, connect
    from devstack.limits import raised_rate_limits

    run_id = uuid.uuid4().hex[:8]
    database = f"sartiq_bench_{run_id}"
    server_url = service_env["DATABASE_URL"]
    await admin_sql(server_url, f'CREATE DATABASE "{database}"')
    sim_port, api_port = free_port(), free_port()
    env = {
        **os.environ,
        **service_env,
        "ENVIRONMENT": "development",
        "DATABASE_URL": with_database(plain_pg(server_url), database),
        # Own queues and event stream: a worker of a running `sartiq dev` on the same
        # Temporal or Redis must not take our work.
        "TASK_QUEUE_PREFIX": f"bench-{run_id}-",
        "COMPUTE_EVENTS_STREAM": f"compute:events:bench-{run_id}",
        "COMPUTE_SERVER_API_URL": f"http://127.0.0.1:{sim_port}",
        # compute_sim answers at once, with every event delivered exactly once.
        "COMPUTE_SIM_LATENCY_MS": "0",
        "COMPUTE_SIM_FAILURE_RATE": "0",
        "COMPUTE_SIM_DROP_EVENT_RATE": "0",
        "COMPUTE_SIM_DUPLICATE_EVENT_RATE": "0",
        "COMPUTE_SIM_STUCK_RATE": "0",
        "LOG_LEVEL": "WARNING",
        "PYTHONUNBUFFERED": "1",
        # The figures measure the product, not the rate limiter's refusals: every bench
        # request comes from one address and one user.
        **raised_rate_limits(),
    }
    env.pop("WORKER_METRICS_PORT", None)
    settings = Settings(**{k: v for k, v in env.items() if k in Settings.model_fields})
    py = sys.executable
    children = {
        "compute_sim": Child(
            "compute_sim",
            [py, "-m", "compute_sim", "--port", str(sim_port), "--log-level", "warning"],
            env,
            workdir / "compute_sim.log",
        ),
        "api": Child(
            "api",
            [
                *(py, "-m", "uvicorn", "api.main:app", "--host", "127.0.0.1", "--no-proxy-headers"),
                *("--port", str(api_port), "--log-level", "warning", "--no-access-log"),
            ],
            env,
            workdir / "api.log",
        ),
        "worker": Child("worker", [py, "worker.py"], env, workdir / "worker.log"),
        "bare": Child("bare", [py, "-m", "bench.bare"], env, workdir / "bare.log"),
    }
    try:
        log("migrating")
        await asyncio.to_thread(migrate_database, settings.async_database_url)
        for child in children.values():
            child.start()
        client = await connect(settings)
        api_url = f"http://127.0.0.1:{api_port}"
        await wait_http(f"{api_url}/api/v1/utils/health-check/", children["api"])
        await wait_http(f"http://127.0.0.1:{sim_port}/health", children["compute_sim"])
        await _wait_pollers(
            client, settings.TASK_QUEUE_PREFIX + GENERATIONS_QUEUE, children["worker"]
        )
        from bench.bare import BARE_QUEUE

        await _wait_pollers(client, settings.TASK_QUEUE_PREFIX + BARE_QUEUE, children["bare"])
        log(f"API {api_url}, worker and bare worker on {settings.TASK_QUEUE_PREFIX}*")
        yield BenchStack(settings, env, api_url, f"http://127.0.0.1:{sim_port}", client, children)
    finally:
        for child in reversed(list(children.values())):
            child.stop()
        await admin_sql(server_url, f'DROP DATABASE IF EXISTS "{database}" WITH (FORCE)')
