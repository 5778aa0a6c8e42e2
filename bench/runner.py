"""Runs the selected benchmarks on one stack and writes the report."""

from __future__ import annotations

import asyncio
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from bench import report
from bench.figures import Figure
from bench.stack import BenchStack, running, services

ALL = ("P1", "P2", "P3", "P4", "P5", "P6")


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
    from importlib import import_module

    def module(name: str) -> Any:
        return import_module(f"bench.{name}")

    generations = module("generations")
    steps: dict[str, Callable[[], Awaitable[list[Figure]]]] = {
        "P1": lambda: generations.run(
            stack,
            generations=scale.generations,
            rounds=scale.throughput_rounds,
            levels=list(scale.latency_levels) if "P2" in selected else [],
            log=_log,
        ),
        "P3": lambda: module("api_latency").run(
            stack, requests=scale.api_requests, concurrency=scale.api_concurrency, log=_log
        ),
        "P4": lambda: module("bulk").run(stack, rows=scale.bulk_rows, log=_log),
        "P5": lambda: module("orphans").run(stack, objects=scale.orphan_objects, log=_log),
        "P6": lambda: module("login_flood").run(stack, probes=scale.health_probes, log=_log),
    }
    if "P2" in selected and "P1" not in selected:
        # P2 shares P1's set-up (user, shots, warm-up); run it without P1's figure.
        steps["P2"] = lambda: _only_p2(stack, scale)
    figures: list[Figure] = []
    for name in ALL:
        if name in selected and name in steps:
            figures += await steps[name]()
            stack.check()
    return figures


async def _only_p2(stack: BenchStack, scale: Scale) -> list[Figure]:
    from bench import generations

    figures = await generations.run(
        stack,
        generations=scale.generations,
        rounds=1,
        levels=list(scale.latency_levels),
        log=_log,
    )
    return [f for f in figures if f.id.startswith("P2")]


async def _run(
    selected: list[str], scale: Scale, service_env: dict[str, str], workdir: Path
) -> tuple[list[Figure], dict[str, str]]:
    async with running(service_env, workdir, _log) as stack:
        figures = await _measure(stack, selected, scale)
        return figures, await _service_versions(stack)


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


def run(selected: list[str], scale: Scale, json_path: Path, md_path: Path | None) -> list[Figure]:
    began = time.monotonic()
    with tempfile.TemporaryDirectory(prefix="sartiq-bench-") as tmp:
        workdir = Path(tmp)
        with services(workdir / "stack", _log) as service_env:
            figures, versions = asyncio.run(_run(selected, scale, service_env, workdir))
    info = report.machine(versions)
    print()
    print(report.table(figures))
    print()
    report.write(figures, info, json_path, md_path)
    _log(
        f"done in {time.monotonic() - began:.0f}s; wrote {json_path}"
        + (f" and {md_path}" if md_path else "")
    )
    return figures
