"""The system under measurement, laid out as in production: the API (uvicorn), the worker
(`python worker.py`, with the compute-event bridge) and compute_sim each in their own
process, plus a bare-workflow worker for the baselines; Postgres, Redis, S3 and Temporal
embedded (devstack, in a temporary directory) unless DATABASE_URL, REDIS_URL,
R2_ENDPOINT_URL and TEMPORAL_ADDRESS all point at running services.

Either way the bench works in a throwaway database (created, migrated, dropped), on its own
task-queue prefix and compute-event stream, so a running `sartiq dev` is not disturbed. The
maintenance schedules the worker creates for that prefix are paused for the run and deleted
after it (bench/quiesce.py).
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import sys
import time
import uuid
from collections.abc import AsyncIterator, Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from devstack.database import (
    create_database,
    drop_database,
    migrate_database,
    plain_pg,
    with_database,
)
from devstack.ports import free_port
from devstack.process import ManagedProcess
from devstack.registry import REPLACED_BY

if TYPE_CHECKING:
    from bench.figures import Figure
    from bench.recorder import Recorder

ROOT = Path(__file__).resolve().parent.parent
ALL_BENCHMARKS = ("P1", "P2", "P3", "P4", "P5", "P6")
# Every service but the mailbox: the bench sends no mail.
SERVICE_VARS = {service: var for service, var in REPLACED_BY.items() if service != "mail"}
Log = Callable[[str], None]


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


def bench_process(
    name: str, argv: list[str], env: dict[str, str], log_path: Path
) -> ManagedProcess:
    """A process of the system under measurement, its output in `log_path`: in its own
    group (Ctrl-C reaches the bench, which stops its children in order), and SIGTERMed if
    the bench dies without doing so: no process outlives a run."""
    return ManagedProcess(
        name, argv, env=env, cwd=ROOT, log_path=log_path, die_with_parent=True, stop_timeout=10
    )


@dataclass
class BenchStack:
    """What every benchmark gets: the API URL, the children, a Temporal client, settings,
    and where its figures go (`before_figure`, then `record` once measured)."""

    settings: Any
    env: dict[str, str]
    api_url: str
    sim_url: str
    client: Any
    recorder: Recorder
    log: Log
    children: dict[str, ManagedProcess] = field(default_factory=dict)

    @property
    def prefix(self) -> str:
        return str(self.settings.TASK_QUEUE_PREFIX)

    @property
    def polled_queues(self) -> list[str]:
        """The queues the bench's worker and bare worker serve: work open there is what
        would load the machine while the next figure is measured. (P3's `idle-` queues
        have no worker on purpose: what waits there costs nothing.)"""
        from bench.bare import BARE_QUEUE
        from core.temporal import TASK_QUEUES

        return [self.prefix + q for q in (*TASK_QUEUES, BARE_QUEUE)]

    async def before_figure(self, label: str) -> None:
        """Wait (bounded) for an idle worker, then open the figure's load window."""
        from bench.quiesce import wait_idle

        idle = await wait_idle(self.client, self.polled_queues, self.log, label)
        self.recorder.begin(label, idle)

    def record(self, figure: Figure) -> None:
        """The figure is measured: into the reports now, with the load it was measured at."""
        self.recorder.record(figure)

    def check(self) -> None:
        for process in self.children.values():
            process.raise_if_exited()


async def wait_http(url: str, child: ManagedProcess, within: float = 60) -> None:
    import httpx

    deadline = time.monotonic() + within
    async with httpx.AsyncClient(timeout=2) as http:
        while time.monotonic() < deadline:
            child.raise_if_exited()
            with contextlib.suppress(httpx.HTTPError):
                if (await http.get(url)).status_code < 500:
                    return
            await asyncio.sleep(0.2)
    raise RuntimeError(f"{child.name} not healthy at {url} after {within:.0f}s")


async def _wait_pollers(client: Any, queue: str, child: ManagedProcess, within: float = 60) -> None:
    """Until a worker polls `queue` (so the first measured run does not wait for startup)."""
    from temporalio.api.enums.v1 import TaskQueueType
    from temporalio.api.taskqueue.v1 import TaskQueue
    from temporalio.api.workflowservice.v1 import DescribeTaskQueueRequest

    deadline = time.monotonic() + within
    while time.monotonic() < deadline:
        child.raise_if_exited()
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
    service_env: dict[str, str], workdir: Path, log: Log, recorder: Recorder | None = None
) -> AsyncIterator[BenchStack]:
    """A throwaway database and the API, worker, compute_sim and bare worker processes, the
    product's schedules paused. Figures go to `recorder` (by default one that only keeps
    them in memory, for every benchmark)."""
    from bench import quiesce
    from bench.recorder import Recorder
    from core.config import Settings
    from core.temporal import GENERATIONS_QUEUE, connect
    from devstack.limits import raised_rate_limits

    run_id = uuid.uuid4().hex[:8]
    database = f"sartiq_bench_{run_id}"
    server_url = service_env["DATABASE_URL"]
    await create_database(server_url, database)
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
        "compute_sim": bench_process(
            "compute_sim",
            [py, "-m", "compute_sim", "--port", str(sim_port), "--log-level", "warning"],
            env,
            workdir / "compute_sim.log",
        ),
        "api": bench_process(
            "api",
            [
                *(py, "-m", "uvicorn", "api.main:app", "--host", "127.0.0.1", "--no-proxy-headers"),
                *("--port", str(api_port), "--log-level", "warning", "--no-access-log"),
            ],
            env,
            workdir / "api.log",
        ),
        "worker": bench_process("worker", [py, "worker.py"], env, workdir / "worker.log"),
        "bare": bench_process("bare", [py, "-m", "bench.bare"], env, workdir / "bare.log"),
    }
    client: Any = None
    try:
        log("migrating")
        await asyncio.to_thread(migrate_database, settings.async_database_url)
        for process in children.values():
            process.start()
        client = await connect(settings)
        api_url = f"http://127.0.0.1:{api_port}"
        await wait_http(f"{api_url}/api/v1/utils/health-check/", children["api"])
        await wait_http(f"http://127.0.0.1:{sim_port}/health", children["compute_sim"])
        await _wait_pollers(
            client, settings.TASK_QUEUE_PREFIX + GENERATIONS_QUEUE, children["worker"]
        )
        from bench.bare import BARE_QUEUE

        await _wait_pollers(client, settings.TASK_QUEUE_PREFIX + BARE_QUEUE, children["bare"])
        # Before any figure: a reconciler or orphan scan firing mid-run would be measured
        # with whatever figure it overlaps.
        await quiesce.pause_schedules(client, settings.TASK_QUEUE_PREFIX, log)
        log(f"API {api_url}, worker and bare worker on {settings.TASK_QUEUE_PREFIX}*")
        yield BenchStack(
            settings,
            env,
            api_url,
            f"http://127.0.0.1:{sim_port}",
            client,
            recorder if recorder is not None else Recorder(ALL_BENCHMARKS),
            log,
            children,
        )
    finally:
        log("stopping the API, worker, compute_sim and bare worker")
        if client is not None:
            # Bounded, and never in the way of stopping the processes: Temporal gone or
            # hung means nothing is left to delete.
            with contextlib.suppress(Exception):
                async with asyncio.timeout(20):
                    ids = quiesce.bench_schedule_ids(settings.TASK_QUEUE_PREFIX)
                    await quiesce.delete_schedules(client, ids, log)
        for process in reversed(list(children.values())):
            process.stop()
        await drop_database(server_url, database)
