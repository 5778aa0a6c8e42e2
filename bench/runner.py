"""Runs the selected benchmarks on one stack and writes the report."""

from __future__ import annotations

import asyncio
import signal
import sys
import tempfile
import threading
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path
from types import FrameType
from typing import Any

from bench import report
from bench.figures import Figure
from bench.recorder import Recorder
from bench.stack import ALL_BENCHMARKS, BenchStack, running, services

ALL = ALL_BENCHMARKS


@dataclass(frozen=True)
class Scale:
    """How big each benchmark is; `quick` is for a smoke run (the test suite), not figures."""

    generations: int = 50
    throughput_rounds: int = 5
    latency_levels: tuple[tuple[int, int], ...] = ((1, 30), (20, 3), (100, 1))
    api_requests: int = 2000
    api_concurrency: int = 50
    bulk_rows: int = 100_000
    orphan_objects: int = 200_000
    health_probes: int = 300

    @classmethod
    def quick(cls) -> Scale:
        return cls(
            generations=4,
            throughput_rounds=1,
            latency_levels=((1, 2), (3, 1)),
            api_requests=100,
            api_concurrency=10,
            bulk_rows=500,
            orphan_objects=300,
            health_probes=20,
        )


def _log(message: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


async def _measure(stack: BenchStack, selected: list[str], scale: Scale) -> list[Figure]:
    """Each selected benchmark in turn; every figure lands in `stack.recorder` (and its
    reports) the moment it is measured. Returns the figures in measurement order."""
    from importlib import import_module

    def module(name: str) -> Any:
        return import_module(f"bench.{name}")

    generations = module("generations")
    steps: dict[str, Callable[[], Awaitable[None]]] = {
        "P1": lambda: generations.run(
            stack,
            generations=scale.generations,
            # Without P1 its rounds are only P2's set-up (the recorder drops its figure).
            rounds=scale.throughput_rounds if "P1" in selected else 1,
            levels=list(scale.latency_levels) if "P2" in selected else [],
            log=stack.log,
        ),
        "P3": lambda: module("api_latency").run(
            stack, requests=scale.api_requests, concurrency=scale.api_concurrency, log=stack.log
        ),
        "P4": lambda: module("bulk").run(stack, rows=scale.bulk_rows, log=stack.log),
        "P5": lambda: module("orphans").run(stack, objects=scale.orphan_objects, log=stack.log),
        "P6": lambda: module("login_flood").run(stack, probes=scale.health_probes, log=stack.log),
    }
    # P2 shares P1's set-up (user, shots, warm-up): it runs as part of the P1 step.
    wanted = {*selected, *(["P1"] if "P2" in selected else [])}
    for name in ALL:
        if name in wanted and name in steps:
            await steps[name]()
            stack.check()
    return list(stack.recorder.figures)


async def _run(
    selected: list[str], scale: Scale, service_env: dict[str, str], workdir: Path, rec: Recorder
) -> None:
    async with running(service_env, workdir, _log, recorder=rec) as stack:
        rec.info = report.machine(await _service_versions(stack))
        await _measure(stack, selected, scale)


async def _service_versions(stack: BenchStack) -> dict[str, str]:
    import asyncpg

    from devstack.database import plain_pg

    conn = await asyncpg.connect(plain_pg(stack.settings.DATABASE_URL))
    try:
        postgres = await conn.fetchval("SHOW server_version")
    finally:
        await conn.close()
    from redis.asyncio import Redis

    redis = Redis.from_url(stack.settings.REDIS_URL)
    try:
        redis_version = (await redis.info("server"))["redis_version"]
    finally:
        await redis.aclose()
    from temporalio.api.workflowservice.v1 import GetSystemInfoRequest

    system = await stack.client.workflow_service.get_system_info(GetSystemInfoRequest())
    return {
        "postgres": str(postgres).split()[0],
        "redis": str(redis_version),
        "temporal_server": system.server_version or "dev",
    }


def _sigterm_as_ctrl_c() -> threading.Event:
    """SIGTERM (a CI timeout, `timeout 1200 ...`) takes the Ctrl-C path: Python's default
    for SIGTERM ends the process at once, skipping every `finally`, so the embedded
    services (each in its own session, out of reach of the signal) stayed behind.

    The handler calls whatever handles SIGINT at that moment: inside `asyncio.run` its
    runner cancels the main task (every `finally` runs, children stopped in order), outside
    it KeyboardInterrupt unwinds the `with` blocks. Later SIGTERMs are ignored: teardown is
    bounded and must not be cut short. The returned event says SIGTERM came."""
    received = threading.Event()
    # A process started in the background by a script inherits SIGINT as ignored; then
    # neither asyncio's handler nor KeyboardInterrupt would be there to call.
    signal.signal(signal.SIGINT, signal.default_int_handler)

    def on_sigterm(_signum: int, frame: FrameType | None) -> None:
        if received.is_set():
            return
        received.set()  # no printing here: the main thread may be inside a print
        handler = signal.getsignal(signal.SIGINT)
        if callable(handler):
            handler(signal.SIGINT, frame)

    signal.signal(signal.SIGTERM, on_sigterm)
    return received


def run(selected: list[str], scale: Scale, json_path: Path, md_path: Path | None) -> list[Figure]:
    began = time.monotonic()
    terminated = _sigterm_as_ctrl_c()
    rec = Recorder(selected, json_path, md_path, _log)
    try:
        with rec.sampling(), tempfile.TemporaryDirectory(prefix="sartiq-bench-") as tmp:
            workdir = Path(tmp)
            with services(workdir / "stack", _log) as service_env:
                asyncio.run(_run(selected, scale, service_env, workdir, rec))
    except KeyboardInterrupt:
        rec.finish("interrupted")
        why = "SIGTERM" if terminated.is_set() else "Ctrl-C"
        _log(f"stopped by {why} after {len(rec.figures)} figure(s); every process stopped")
        if terminated.is_set():
            raise SystemExit(128 + signal.SIGTERM) from None
        raise
    except BaseException:
        rec.finish("failed")
        raise
    rec.finish("complete")
    print()
    print(report.table(rec.figures))
    print()
    _log(
        f"done in {time.monotonic() - began:.0f}s; wrote {json_path}"
        + (f" and {md_path}" if md_path else "")
    )
    return rec.figures
