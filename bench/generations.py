"""P1 generation throughput and P2 event latency, each against the bare workflow
(bench/bare.py) with the same number of activities and signals, on the same server.

P1: N generations started at once through the API (compute_sim latency 0, one small
output each), timed until the last `generation.completed` arrives on the WebSocket;
baseline: N bare workflows started at once, each sent the generation's number of signals,
timed until the last result.

P2: compute `task.completed` appended to the compute-event stream (its stream id is the
Redis server's clock) → `generation.completed` received on the WebSocket (this machine's
clock, the same one). Baseline: the engine's share of that path — the last signal sent to a
waiting bare workflow → its result (with the generation's number of activities after it).
"""

from __future__ import annotations

import asyncio
import statistics
import time
import uuid
from dataclasses import dataclass
from typing import Any

from bench.bare import BARE_QUEUE, SIGNAL, BareInput, BareWorkflow
from bench.figures import Figure, ratio
from bench.session import Session
from bench.stack import BenchStack, Log
from bench.stats import latency_summary

IMAGE_SIZE = 64
TIMEOUT = 600.0


@dataclass(frozen=True)
class Shape:
    """What one generation costs the engine, counted from its history."""

    before: int  # activities before the first signal
    after: int  # activities after the last signal
    activities: int
    signals: int
    events: int


async def shape_of(client: Any, workflow_id: str) -> Shape:
    activities = before = signals = after = events = 0
    async for event in client.get_workflow_handle(workflow_id).fetch_history_events():
        events += 1
        if event.HasField("activity_task_scheduled_event_attributes"):
            activities += 1
            after += 1
            if not signals:
                before += 1
        elif event.HasField("workflow_execution_signaled_event_attributes"):
            signals += 1
            after = 0
    return Shape(before, after, activities, signals, events)


async def _bare_run(stack: BenchStack, data: BareInput) -> None:
    handle = await stack.client.start_workflow(
        BareWorkflow.run,
        data,
        id=f"bench-bare-{uuid.uuid4()}",
        task_queue=stack.prefix + BARE_QUEUE,
    )
    for i in range(data.signals):
        await handle.signal(SIGNAL, {"n": str(i)})
    await handle.result()


async def _wall(coros: list[Any]) -> float:
    began = time.perf_counter()
    await asyncio.gather(*coros)
    return time.perf_counter() - began


async def throughput(
    stack: BenchStack, session: Session, shots: list[str], shape: Shape, rounds: int, log: Log
) -> Figure:
    """Rounds of N at once, ours and the bare workflow taking turns; the median round of
    each side is the figure (a single pair of ~3 s rounds on this shared machine varied by
    a factor of two from one run to the next)."""
    n = len(shots)
    await stack.before_figure("P1")
    bare_input = BareInput(shape.before, shape.signals, shape.activities - shape.before)
    # A warm-up round on each side at full concurrency, not counted: the processes' pools
    # open their connections (and prepare their statements) on first use.
    log(f"P1 warm-up: {n} generations and {n} bare workflows at once")
    await _wall([session.generate_and_wait(s, TIMEOUT) for s in shots])
    await _wall([_bare_run(stack, bare_input) for _ in range(n)])
    ours_walls, bare_walls = [], []
    for round_ in range(1, rounds + 1):
        log(f"P1 round {round_}/{rounds}: {n} generations at once")
        ours_walls.append(await _wall([session.generate_and_wait(s, TIMEOUT) for s in shots]))
        log(
            f"P1 round {round_}/{rounds}: {n} bare workflows at once "
            f"({shape.activities} activities, {shape.signals} signals)"
        )
        bare_walls.append(await _wall([_bare_run(stack, bare_input) for _ in range(n)]))
    ours, bare = statistics.median(ours_walls), statistics.median(bare_walls)
    figure = Figure(
        id="P1",
        name=f"generation throughput, {n} at once",
        unit="runs/s",
        ours=round(n / ours, 2),
        baseline=round(n / bare, 2),
        baseline_name="bare workflow, same activities and signals, empty bodies",
        ratio=ratio(bare, ours),
        goal=">= 0.6",
        met=bare / ours >= 0.6,
        details={
            "generations": n,
            "rounds": rounds,
            "wall_s": round(ours, 3),
            "bare_wall_s": round(bare, 3),
            "wall_s_per_round": [round(w, 3) for w in ours_walls],
            "bare_wall_s_per_round": [round(w, 3) for w in bare_walls],
            "activities_per_generation": shape.activities,
            "signals_per_generation": shape.signals,
            "history_events_per_generation": shape.events,
        },
    )
    stack.record(figure)
    return figure


async def _completed_appends(stack: BenchStack, redis: Any, since_ms: int) -> dict[str, float]:
    """generation id -> when compute_sim appended its generation task's `task.completed`."""
    stream = stack.settings.COMPUTE_EVENTS_STREAM
    found: dict[str, float] = {}
    for entry_id, fields in await redis.xrange(stream, min=f"{since_ms}-0"):
        if (
            fields.get(b"event_type") == b"task.completed"
            and fields.get(b"task_type") == b"generation"
        ):
            ms = int(entry_id.split(b"-")[0])
            found.setdefault(fields[b"entity_id"].decode(), ms / 1000)
    return found


async def _our_latencies(
    stack: BenchStack, session: Session, redis: Any, shots: list[str], rounds: int
) -> list[float]:
    samples: list[float] = []
    for _ in range(rounds):
        since = int(time.time() * 1000) - 1000
        done = await asyncio.gather(*(session.generate_and_wait(s, TIMEOUT) for s in shots))
        appended = await _completed_appends(stack, redis, since)
        samples += [seen - appended[gid] for gid, seen in done]
    return samples


async def _waiting(handle: Any) -> bool:
    """Whether the bare workflow's first workflow task ran: it now waits for the signal."""
    description = await handle.describe()
    return bool(description.raw_description.workflow_execution_info.history_length >= 4)


async def _signal_to_result(handle: Any) -> float:
    began = time.time()
    await handle.signal(SIGNAL, {"n": "0"})
    await handle.result()
    return time.time() - began


async def _bare_latencies(
    stack: BenchStack, concurrent: int, rounds: int, after: int
) -> list[float]:
    """`concurrent` bare workflows, all waiting, then all signalled at once (as a burst of
    compute completions would be): each one's last signal → result."""
    samples: list[float] = []
    for _ in range(rounds):
        handles = await asyncio.gather(
            *(
                stack.client.start_workflow(
                    BareWorkflow.run,
                    BareInput(before=0, signals=1, after=after),
                    id=f"bench-bare-latency-{uuid.uuid4()}",
                    task_queue=stack.prefix + BARE_QUEUE,
                )
                for _ in range(concurrent)
            )
        )
        pending = list(handles)
        while pending:
            ready = await asyncio.gather(*(_waiting(h) for h in pending))
            pending = [h for h, ok in zip(pending, ready, strict=True) if not ok]
            await asyncio.sleep(0.1)
        samples += await asyncio.gather(*(_signal_to_result(h) for h in handles))
    return samples


async def event_latency(
    stack: BenchStack,
    session: Session,
    redis: Any,
    shots: list[str],
    shape: Shape,
    levels: list[tuple[int, int]],
    log: Log,
) -> list[Figure]:
    figures = []
    for concurrent, rounds in levels:
        await stack.before_figure(f"P2@{concurrent}")
        log(f"P2: event latency at {concurrent} concurrent ({rounds} round(s))")
        ours = latency_summary(
            await _our_latencies(stack, session, redis, shots[:concurrent], rounds)
        )
        bare = latency_summary(await _bare_latencies(stack, concurrent, rounds, shape.after))
        goal = "p99 <= 250 ms" if concurrent == 20 else "-"
        figure = Figure(
            id=f"P2@{concurrent}",
            name=f"task.completed -> WS generation.completed, {concurrent} concurrent",
            unit="ms p99",
            ours=ours["p99_ms"],
            baseline=bare["p99_ms"],
            baseline_name=f"last signal -> result, bare workflow ({shape.after} activities)",
            ratio=ratio(ours["p99_ms"], bare["p99_ms"]),
            goal=goal,
            met=ours["p99_ms"] <= 250 if concurrent == 20 else None,
            details={"samples": concurrent * rounds, "ours": ours, "bare": bare},
        )
        figures.append(figure)
        stack.record(figure)
    return figures


async def run(
    stack: BenchStack,
    *,
    generations: int,
    rounds: int,
    levels: list[tuple[int, int]],
    log: Log,
) -> None:
    """P1 (and P2 at each level in `levels`), each recorded as soon as measured."""
    from redis.asyncio import Redis

    from bench.quiesce import clean_baseline

    session = Session(stack.api_url)
    redis = Redis.from_url(stack.settings.REDIS_URL)
    try:
        await session.sign_up()
        await session.connect()
        needed = max([generations, *(c for c, _ in levels)])
        shots = await session.shots(needed, IMAGE_SIZE)
        log("warm-up: 3 generations")
        warm = [await session.generate_and_wait(shots[0], TIMEOUT) for _ in range(3)]
        shapes = [await shape_of(stack.client, f"generation-{gid}") for gid, _ in warm]
        shape = sorted(shapes, key=lambda s: (s.activities, s.signals))[len(shapes) // 2]
        await throughput(stack, session, shots[:generations], shape, rounds, log)
        await event_latency(stack, session, redis, shots, shape, levels, log)
    finally:
        await session.close()
        await redis.aclose()
        # The baseline's own leftovers (a round cut short waits for signals forever): none
        # may still be open when the next figure is measured.
        await clean_baseline(stack.client, [stack.prefix + BARE_QUEUE], log, "P1/P2")
