"""How long one generation takes end to end, how many run per second, and how that compares
with a bare Temporal workflow running the same number of (empty) activities.

    uv run python scripts/generation_latency.py [--runs 20] [--concurrent 50]

Starts its own embedded stack (Postgres, Redis, S3, Temporal from devstack, in a temporary
directory, deleted afterwards) unless DATABASE_URL, REDIS_URL, R2_ENDPOINT_URL and
TEMPORAL_ADDRESS all point at running services; then it uses a throwaway database (created,
migrated, dropped), its own task queues and compute-event stream, so a running `sartiq dev`
is not disturbed (its bucket does keep the rendered images). In this process: compute_sim
(latency 0), the production worker assembly with the compute-event bridge, and the API
served by uvicorn on a free port.

A generation is timed from just before POST /shots/{id}/generate to the arrival of its
`generation.completed` on the WebSocket. The baseline is a workflow with as many no-op
activities as one generation ran (counted from its history), on the same server and worker
process, timed from just before start_workflow to its result.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import math
import os
import socket
import statistics
import sys
import tempfile
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from datetime import timedelta
from pathlib import Path
from typing import Any

# Only light imports at module level: the workflow sandbox re-imports this module for the
# baseline workflow below (DESIGN §10). Everything else is imported inside functions.
from temporalio import activity, workflow

SERVICE_VARS = {
    "postgres": "DATABASE_URL",
    "redis": "REDIS_URL",
    "s3": "R2_ENDPOINT_URL",
    "temporal": "TEMPORAL_ADDRESS",
}
TERMINAL_EVENTS = ("generation.completed", "generation.failed", "generation.cancelled")
BASELINE_QUEUE = "latency-baseline"


# -- the baseline: a bare workflow with N empty activities ------------------------------------


@activity.defn(name="latency.noop")
async def noop(step: int) -> None:
    return None


@workflow.defn(name="LatencyBaselineWorkflow")
class BaselineWorkflow:
    @workflow.run
    async def run(self, activities: int) -> int:
        for step in range(activities):
            await workflow.execute_activity(
                noop, step, start_to_close_timeout=timedelta(seconds=30)
            )
        return activities


# -- services -------------------------------------------------------------------------------


def _log(message: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


def _with_database(url: str, name: str) -> str:
    base, _, query = url.partition("?")
    base = base.rsplit("/", 1)[0] if base.count("/") > 2 else base
    return f"{base}/{name}" + (f"?{query}" if query else "")


def _plain_pg(url: str) -> str:
    return url.replace("postgresql+asyncpg://", "postgresql://")


async def _admin_sql(server_url: str, statement: str) -> None:
    import asyncpg

    conn = await asyncpg.connect(_plain_pg(server_url))
    try:
        await conn.execute(statement)
    finally:
        await conn.close()


@contextlib.contextmanager
def _services(stack_dir: Path) -> Any:
    """The connection variables of every service, starting embedded ones where none is given."""
    env = {k: v for k, v in os.environ.items() if k.startswith(("R2_", "TEMPORAL_"))}
    env.update({var: os.environ[var] for var in SERVICE_VARS.values() if os.environ.get(var)})
    missing = [svc for svc, var in SERVICE_VARS.items() if not os.environ.get(var)]
    if not missing:
        _log("using the services of the environment")
        yield env
        return
    from devstack import Stack

    _log(f"starting embedded {', '.join(missing)} in {stack_dir}")
    began = time.monotonic()
    with Stack(stack_dir, ephemeral=True, services=missing, log=lambda _line: None) as started:
        env.update(started.as_env())
        _log(f"stack up in {time.monotonic() - began:.1f}s")
        yield env


@contextlib.asynccontextmanager
async def _serve(app: Any) -> AsyncIterator[str]:
    """uvicorn on this event loop, on a port the OS picks (lifespan run by the caller)."""
    import uvicorn

    class Server(uvicorn.Server):
        @contextlib.contextmanager
        def capture_signals(self) -> Any:
            yield  # Ctrl-C stops the script, not just the server

    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
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
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        with contextlib.suppress(asyncio.CancelledError, TimeoutError):
            await asyncio.wait_for(task, 10)
        sock.close()


@contextlib.asynccontextmanager
async def _workers(client: Any, settings: Any) -> AsyncIterator[Any]:
    """The production worker assembly (+ bridge) and the baseline worker, in this process."""
    from concurrent.futures import ThreadPoolExecutor

    from temporalio.worker import Worker

    from worker import MAX_CONCURRENT_ACTIVITIES, build_bridge, build_workers

    prefix = settings.TASK_QUEUE_PREFIX
    with ThreadPoolExecutor(max_workers=MAX_CONCURRENT_ACTIVITIES) as executor:
        worker_set = build_workers(client, settings, executor, task_queue_prefix=prefix)
        baseline = Worker(
            client,
            task_queue=prefix + BASELINE_QUEUE,
            workflows=[BaselineWorkflow],
            activities=[noop],
            max_concurrent_activities=MAX_CONCURRENT_ACTIVITIES,
        )
        bridge, bridge_redis = build_bridge(client, settings)
        bridge_task = asyncio.create_task(bridge.run())
        try:
            async with contextlib.AsyncExitStack() as stack:
                for w in [*worker_set.workers, baseline]:
                    await stack.enter_async_context(w)
                yield bridge
        finally:
            bridge.stop()
            bridge_task.cancel()
            await asyncio.gather(bridge_task, return_exceptions=True)
            await worker_set.close()
            await bridge_redis.aclose()


# -- the API as a user sees it -------------------------------------------------------------------


class Session:
    """A signed-up user with an organization, over real HTTP and one WebSocket."""

    def __init__(self, base_url: str) -> None:
        import httpx

        self.base_url = base_url
        self.http = httpx.AsyncClient(base_url=base_url + "/api/v1", timeout=60)
        self.org = ""
        self.headers: dict[str, str] = {}
        self._finished: dict[str, tuple[float, str]] = {}
        self._waiters: dict[str, asyncio.Future[tuple[float, str]]] = {}
        self._reader: asyncio.Task[None] | None = None
        self._conn: Any = None

    async def sign_up(self) -> None:
        email = f"latency-{uuid.uuid4().hex[:10]}@example.com"
        password = uuid.uuid4().hex
        r = await self.http.post("/users/signup", json={"email": email, "password": password})
        r.raise_for_status()
        r = await self.http.post(
            "/login/access-token", data={"username": email, "password": password}
        )
        r.raise_for_status()
        self.token = r.json()["access_token"]
        self.headers = {"Authorization": f"Bearer {self.token}"}
        r = await self.http.post("/organizations/", json={"name": "Latency"}, headers=self.headers)
        r.raise_for_status()
        self.org = r.json()["id"]

    async def create(self, path: str, body: dict[str, Any]) -> dict[str, Any]:
        r = await self.http.post(
            path, json=body, headers=self.headers, params={"organization_id": self.org}
        )
        if r.status_code >= 300:
            raise RuntimeError(f"POST {path}: {r.status_code} {r.text}")
        return r.json()

    async def get(self, path: str, **params: Any) -> dict[str, Any]:
        r = await self.http.get(
            path, headers=self.headers, params={"organization_id": self.org, **params}
        )
        r.raise_for_status()
        return r.json()

    async def shots(self, count: int, size: int) -> list[str]:
        """`count` shots in one shooting (at most 10 shot types per look)."""
        product = await self.create("/products/", {"name": "Dress", "sku": uuid.uuid4().hex[:8]})
        per_look = min(count, 10)
        types = [
            (await self.create("/shot-types/", {"name": f"Angle {i}"}))["id"]
            for i in range(per_look)
        ]
        shooting = await self.create("/shootings/", {"name": f"Latency {count}"})
        shot_ids: list[str] = []
        for _ in range(math.ceil(count / per_look)):
            look = await self.create(
                f"/shootings/{shooting['id']}/looks",
                {
                    "main_product_id": product["id"],
                    "shot_type_ids": types,
                    "width": size,
                    "height": size,
                },
            )
            shot_ids += look["shot_ids"]
        return shot_ids[:count]

    async def connect(self) -> None:
        from websockets.asyncio.client import connect

        url = self.base_url.replace("http://", "ws://") + f"/api/v1/ws?token={self.token}"
        self._conn = await connect(url, open_timeout=10, max_queue=None)
        hello = json.loads(await self._conn.recv())
        if hello.get("type") != "auth.success":
            raise RuntimeError(f"socket refused: {hello}")
        self._reader = asyncio.create_task(self._read())

    async def _read(self) -> None:
        async for raw in self._conn:
            seen = time.perf_counter()
            message = json.loads(raw)
            if message.get("type") not in TERMINAL_EVENTS:
                continue
            generation_id = message["payload"]["id"]
            self._finished[generation_id] = (seen, message["type"])
            waiter = self._waiters.pop(generation_id, None)
            if waiter is not None and not waiter.done():
                waiter.set_result((seen, message["type"]))

    async def finished(self, generation_id: str) -> tuple[float, str]:
        """When (perf_counter) the generation's terminal event arrived, and its type."""
        if generation_id in self._finished:
            return self._finished[generation_id]
        waiter = self._waiters.setdefault(generation_id, asyncio.get_running_loop().create_future())
        return await waiter

    async def generate(self, shot_id: str, outputs: int) -> tuple[str, float]:
        """Start a generation; (its id, perf_counter just before the POST)."""
        began = time.perf_counter()
        r = await self.http.post(
            f"/shots/{shot_id}/generate",
            json={"num_predictions": outputs, "config": {"sim": {"latency_ms": 0}}},
            headers=self.headers,
            params={"organization_id": self.org},
        )
        if r.status_code != 202:
            raise RuntimeError(f"generate: {r.status_code} {r.text}")
        return r.json()["id"], began

    async def close(self) -> None:
        if self._conn is not None:
            await self._conn.close()
        if self._reader is not None:
            self._reader.cancel()
            await asyncio.gather(self._reader, return_exceptions=True)
        await self.http.aclose()


# -- measurements ------------------------------------------------------------------------------


def _ms(seconds: float) -> float:
    return seconds * 1000


def _summary(samples: Sequence[float]) -> dict[str, float]:
    ordered = sorted(samples)
    p95_index = max(0, math.ceil(0.95 * len(ordered)) - 1)
    return {
        "p50": statistics.median(ordered),
        "p95": ordered[p95_index],
        "min": ordered[0],
        "max": ordered[-1],
    }


def _seconds_between(start: str | None, end: str | None) -> float | None:
    from datetime import datetime

    if not start or not end:
        return None
    return (datetime.fromisoformat(end) - datetime.fromisoformat(start)).total_seconds()


async def _one_generation(session: Session, shot_id: str, outputs: int) -> dict[str, Any]:
    generation_id, began = await session.generate(shot_id, outputs)
    async with asyncio.timeout(60):
        seen, kind = await session.finished(generation_id)
    if kind != "generation.completed":
        raise RuntimeError(f"generation {generation_id} ended with {kind}")
    row = await session.get(f"/generations/{generation_id}")
    return {
        "id": generation_id,
        "total": seen - began,
        "queued": _seconds_between(row["created_at"], row["started_at"]),
        "processing": _seconds_between(row["started_at"], row["completed_at"]),
    }


async def _history_counts(client: Any, workflow_id: str) -> dict[str, int]:
    counts = {"activities": 0, "signals": 0, "workflow_tasks": 0, "events": 0}
    async for event in client.get_workflow_handle(workflow_id).fetch_history_events():
        counts["events"] += 1
        if event.HasField("activity_task_scheduled_event_attributes"):
            counts["activities"] += 1
        elif event.HasField("workflow_execution_signaled_event_attributes"):
            counts["signals"] += 1
        elif event.HasField("workflow_task_completed_event_attributes"):
            counts["workflow_tasks"] += 1
    return counts


async def _timeline(client: Any, workflow_id: str) -> None:
    """Print a run's history: milliseconds since its start, and each event's type."""
    from temporalio.api.enums.v1 import EventType

    print(f"\nhistory of {workflow_id}")
    first = None
    async for event in client.get_workflow_handle(workflow_id).fetch_history_events():
        at = event.event_time.ToDatetime()
        first = first or at
        name = EventType.Name(event.event_type).removeprefix("EVENT_TYPE_")
        print(f"  {(at - first).total_seconds() * 1000:8.1f} ms  {name}")


async def _baseline_once(client: Any, queue: str, activities: int, workflow_id: str = "") -> float:
    began = time.perf_counter()
    handle = await client.start_workflow(
        BaselineWorkflow.run,
        activities,
        id=workflow_id or f"latency-baseline-{uuid.uuid4()}",
        task_queue=queue,
    )
    await handle.result()
    return time.perf_counter() - began


async def _timed_concurrently(
    make: Callable[[], Sequence[Awaitable[Any]]],
) -> tuple[float, float, list[Any]]:
    """(wall seconds, CPU seconds this process used meanwhile, results)."""
    began, cpu = time.perf_counter(), time.process_time()
    results = await asyncio.gather(*make())
    return time.perf_counter() - began, time.process_time() - cpu, list(results)


async def _measure(
    args: argparse.Namespace, settings: Any, base_url: str, client: Any, bridge: Any
) -> str:
    """Runs every measurement and prints the report; returns the organization it used."""
    session = Session(base_url)
    try:
        await session.sign_up()
        await session.connect()
        single_shot = (await session.shots(1, args.size))[0]
        many_shots = await session.shots(args.concurrent, args.size)

        _log(f"warm-up: {args.warmup} generation(s)")
        for _ in range(args.warmup):
            await _one_generation(session, single_shot, args.outputs)
        _log(f"{args.runs} sequential generations")
        runs = [await _one_generation(session, single_shot, args.outputs) for _ in range(args.runs)]
        # Progress events may or may not add a record_progress activity: take the median run.
        histories = [await _history_counts(client, f"generation-{r['id']}") for r in runs[-5:]]
        counts = sorted(histories, key=lambda c: (c["activities"], c["events"]))[
            len(histories) // 2
        ]

        _log(f"{args.concurrent} concurrent generations")

        async def concurrent_one(shot_id: str) -> str:
            generation_id, _began = await session.generate(shot_id, args.outputs)
            async with asyncio.timeout(args.timeout):
                _seen, kind = await session.finished(generation_id)
            return kind

        # How far behind the compute-event stream the bridge falls (it signals one by one).
        lags: list[float] = []

        async def sample_lag() -> None:
            while True:
                if bridge.last_lag_ms is not None:
                    lags.append(bridge.last_lag_ms)
                await asyncio.sleep(0.05)

        sampler = asyncio.create_task(sample_lag())
        try:
            wall, cpu, kinds = await _timed_concurrently(
                lambda: [concurrent_one(s) for s in many_shots]
            )
        finally:
            sampler.cancel()
        bridge_lag = max(lags, default=0.0) / 1000
        completed = kinds.count("generation.completed")

        queue = settings.TASK_QUEUE_PREFIX + BASELINE_QUEUE
        n = counts["activities"]
        _log(f"baseline: bare workflow with {n} no-op activities")
        for _ in range(args.warmup):
            await _baseline_once(client, queue, n)
        bare = [await _baseline_once(client, queue, n) for _ in range(args.runs)]
        bare_wall, bare_cpu, _ = await _timed_concurrently(
            lambda: [_baseline_once(client, queue, n) for _ in range(args.concurrent)]
        )
        if args.timeline:
            traced = f"latency-baseline-traced-{uuid.uuid4()}"
            await _baseline_once(client, queue, n, traced)
            await _timeline(client, f"generation-{runs[-1]['id']}")
            await _timeline(client, traced)
    finally:
        await session.close()

    _report(args, runs, counts, (wall, cpu, completed, bridge_lag), bare, (bare_wall, bare_cpu))
    return session.org


def _report(
    args: argparse.Namespace,
    runs: list[dict[str, Any]],
    counts: dict[str, int],
    concurrent: tuple[float, float, int, float],
    bare: list[float],
    bare_concurrent: tuple[float, float],
) -> None:
    n = counts["activities"]
    wall, cpu, completed, bridge_lag = concurrent
    bare_wall, bare_cpu = bare_concurrent
    gen = _summary([r["total"] for r in runs])
    base = _summary(bare)
    rows = [
        ("generation: POST -> WS completed", gen),
        (
            "  created -> started (DB)",
            _summary([r["queued"] for r in runs if r["queued"] is not None]),
        ),
        (
            "  started -> completed (DB)",
            _summary([r["processing"] for r in runs if r["processing"] is not None]),
        ),
        (f"bare workflow, {n} no-op activities", base),
    ]
    print()
    print(
        f"One generation, {len(runs)} sequential runs (compute latency 0 ms, "
        f"{args.outputs} output(s) of {args.size}x{args.size}; per generation: {n} activities, "
        f"{counts['signals']} signals, {counts['workflow_tasks']} workflow tasks, "
        f"{counts['events']} history events)"
    )
    print(f"{'':40} {'p50 ms':>8} {'p95 ms':>8} {'min ms':>8} {'max ms':>8}")
    for label, stats in rows:
        print(
            f"{label:40} " + " ".join(f"{_ms(stats[k]):8.1f}" for k in ("p50", "p95", "min", "max"))
        )
    print(f"{'ratio generation / bare (p50)':40} {gen['p50'] / base['p50']:8.2f}x")
    print()
    print(f"{args.concurrent} at once (CPU: this process = API + worker + compute_sim)")
    print(f"{'':40} {'wall s':>8} {'per s':>8} {'CPU s':>8} {'done':>8}")
    print(
        f"{'generations: POST -> WS completed':40} {wall:8.2f} "
        f"{args.concurrent / wall:8.1f} {cpu:8.2f} {completed:>4}/{args.concurrent}"
    )
    print(
        f"{'bare workflows':40} {bare_wall:8.2f} {args.concurrent / bare_wall:8.1f} "
        f"{bare_cpu:8.2f} {args.concurrent:>4}/{args.concurrent}"
    )
    print(f"{'ratio generation / bare (wall)':40} {wall / bare_wall:8.2f}x")
    print(f"{'compute events: worst bridge lag':40} {bridge_lag:8.2f} s")
    load = ", ".join(f"{x:.1f}" for x in os.getloadavg())
    print(f"\nload average {load} on {os.cpu_count()} CPUs (other load skews every number)")
    if completed != args.concurrent:
        raise SystemExit(f"only {completed} of {args.concurrent} generations completed")


# -- main --------------------------------------------------------------------------------------


async def _run(args: argparse.Namespace, env: dict[str, str]) -> None:
    from compute_sim import ComputeSimServer, SimConfig
    from core.config import get_settings

    server_url = env["DATABASE_URL"]
    database = f"sartiq_latency_{uuid.uuid4().hex[:10]}"
    await _admin_sql(server_url, f'CREATE DATABASE "{database}"')
    run_id = uuid.uuid4().hex[:8]
    os.environ.update(
        {
            **env,
            "DATABASE_URL": _with_database(_plain_pg(server_url), database),
            # Our own queues and event stream: a worker of a running `sartiq dev` on the same
            # Temporal or Redis must not take our work.
            "TASK_QUEUE_PREFIX": f"latency-{run_id}-",
            "COMPUTE_EVENTS_STREAM": f"compute:events:latency-{run_id}",
        }
    )
    os.environ.setdefault("ENVIRONMENT", "development")
    get_settings.cache_clear()
    settings = get_settings()
    try:
        from cli import migrate_database

        _log("migrating")
        await asyncio.to_thread(migrate_database, settings.async_database_url)
        sim_config = SimConfig(
            latency_ms=0,
            failure_rate=0.0,
            stuck_rate=0.0,
            drop_event_rate=0.0,
            duplicate_event_rate=0.0,
            reorder_events=False,
            webhook_url=None,
        )
        with ComputeSimServer(settings, sim_config) as sim:
            assert sim.url
            settings = settings.model_copy(update={"COMPUTE_SERVER_API_URL": sim.url})
            await _with_stack_running(args, settings)
    finally:
        get_settings.cache_clear()
        await _admin_sql(server_url, f'DROP DATABASE IF EXISTS "{database}" WITH (FORCE)')


async def _with_stack_running(args: argparse.Namespace, settings: Any) -> None:
    from api.main import create_app
    from core import events
    from core.temporal import connect

    client = await connect(settings)
    app = create_app(settings)
    async with (
        app.router.lifespan_context(app),
        _workers(client, settings) as bridge,
        _serve(app) as base_url,
    ):
        _log(f"API on {base_url}, worker on {settings.TASK_QUEUE_PREFIX}*")
        try:
            org = await _measure(args, settings, base_url, client, bridge)
        finally:
            await app.state.redis.delete(settings.COMPUTE_EVENTS_STREAM)
        await app.state.redis.delete(events.stream_key(events.org_scope(org)))


def _parse(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=20, help="sequential generations timed")
    parser.add_argument("--concurrent", type=int, default=50, help="generations started at once")
    parser.add_argument("--warmup", type=int, default=2, help="untimed runs first")
    parser.add_argument("--outputs", type=int, default=1, help="images per generation")
    parser.add_argument("--size", type=int, default=256, help="image width and height")
    parser.add_argument(
        "--timeout", type=float, default=300, help="seconds the concurrent batch may take"
    )
    parser.add_argument(
        "--timeline",
        action="store_true",
        help="also print the history (event times) of one generation and one bare run",
    )
    args = parser.parse_args(argv)
    if args.runs < 1 or args.concurrent < 1 or args.warmup < 0:
        parser.error("--runs and --concurrent must be at least 1, --warmup at least 0")
    return args


def main(argv: Sequence[str] | None = None) -> None:
    # The project's packages (api, core, ...) live beside scripts/. Not at module level: the
    # workflow sandbox re-runs module-level code and forbids filesystem calls there.
    root = str(Path(__file__).resolve().parent.parent)
    if root not in sys.path:
        sys.path.insert(0, root)
    args = _parse(argv)
    began = time.monotonic()
    with tempfile.TemporaryDirectory(prefix="sartiq-latency-") as tmp, _services(Path(tmp)) as env:
        asyncio.run(_run(args, env))
    _log(f"done in {time.monotonic() - began:.0f}s")


if __name__ == "__main__":
    main()
