"""P6: the public health check while 20 bad logins are in flight, against it idle.

A wrong password costs an Argon2 verify (~170 ms of CPU at the production parameters the
bench API runs with). On the event loop, a handful of those a second froze the API process
for every other request; in the bounded hashing pool the loop keeps serving. The rate
limits are raised for the bench (devstack/limits.py), so every attempt reaches the hasher.

Both phases probe `GET /utils/health-check/` from one keep-alive connection, one request
at a time, the same number of times; the figure is the flood phase's p99 over the idle
phase's, same process, same run.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
import uuid

from bench.figures import Figure, ratio
from bench.http_load import KeepAliveConnection
from bench.stack import BenchStack, Log
from bench.stats import latency_summary

HEALTH = "/utils/health-check/"
IN_FLIGHT = 20


async def _probe(connection: KeepAliveConnection, count: int) -> list[float]:
    samples = []
    for _ in range(count):
        started = time.perf_counter()
        status, _body = await connection.request("GET", HEALTH)
        if status != 200:
            raise RuntimeError(f"health check answered {status}")
        samples.append(time.perf_counter() - started)
        await asyncio.sleep(0.01)  # a probe, not a load: ~80 requests a second at most
    return samples


async def run(stack: BenchStack, *, probes: int, log: Log) -> None:
    base = f"{stack.api_url}/api/v1"
    probe = KeepAliveConnection(base)
    attackers = [KeepAliveConnection(base) for _ in range(IN_FLIGHT)]
    attempts = 0
    stop = asyncio.Event()
    all_answered = asyncio.Event()  # each attacker got at least one answer

    async def bad_logins(connection: KeepAliveConnection) -> None:
        nonlocal attempts
        form = {"username": f"bench-{uuid.uuid4().hex[:8]}@example.com", "password": "wrong"}
        while not stop.is_set():
            status, body = await connection.request("POST", "/login/access-token", form=form)
            if status != 401:
                raise RuntimeError(f"bad login answered {status}: {body[:200]!r}")
            attempts += 1
            if attempts >= IN_FLIGHT:
                all_answered.set()

    flood: list[asyncio.Task[None]] = []
    await stack.before_figure("P6")
    try:
        await _probe(probe, 20)  # warm the connection and the route
        log(f"P6: health check x{probes}, idle")
        idle = await _probe(probe, probes)
        log(f"P6: health check x{probes}, {IN_FLIGHT} bad logins in flight")
        began = time.perf_counter()
        flood += [asyncio.create_task(bad_logins(c)) for c in attackers]
        await asyncio.sleep(1.0)  # every attacker has a verify in flight
        busy = await _probe(probe, probes)
        # The flood goes on until each attacker got at least one answer, so the rate below
        # says how many verifies a second the API did while the probes ran beside them.
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(all_answered.wait(), timeout=60)
        rate = attempts / (time.perf_counter() - began)
        stop.set()
        await asyncio.gather(*flood)
    finally:
        stop.set()
        # Cut short (an error, Ctrl-C, SIGTERM): the attackers end here, not on their own
        # against an API that is being stopped.
        for task in flood:
            task.cancel()
        await asyncio.gather(*flood, return_exceptions=True)
        for connection in (probe, *attackers):
            await connection.close()
    ours, baseline = latency_summary(busy), latency_summary(idle)
    value = ratio(ours["p99_ms"], baseline["p99_ms"])
    stack.record(
        Figure(
            id="P6",
            name=f"GET /utils/health-check/ p99 with {IN_FLIGHT} bad logins in flight",
            unit="ms p99",
            ours=ours["p99_ms"],
            baseline=baseline["p99_ms"],
            baseline_name="the same endpoint, idle",
            ratio=value,
            goal="<= 2x",
            met=value <= 2.0,
            details={
                "flood": ours,
                "idle": baseline,
                "bad_logins_per_second": round(rate, 1),
                "probes": probes,
            },
        )
    )
