"""The Temporal worker process: `python worker.py`.

Assembles the clients (database, Redis, compute, object store, Temporal), builds the
activity classes with them, runs one worker per task queue and the compute-event bridge
until SIGINT/SIGTERM.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal
from collections.abc import Awaitable, Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

from prometheus_client import start_http_server
from redis.asyncio import Redis
from temporalio.client import Client
from temporalio.worker import Interceptor, PollerBehaviorAutoscaling, Worker

from activities.clients import Clients
from activities.registry import activities_by_queue
from core import log_redaction
from core.compute import ComputeClient
from core.compute_events import ComputeEventBridge
from core.config import Settings, get_settings
from core.db import create_engine, create_sessionmaker
from core.logging import configure as configure_logging
from core.storage import ObjectStore
from core.temporal import connect, metrics_runtime
from workflows.registry import WORKFLOWS_BY_QUEUE
from workflows.schedules import sync_schedules

log = logging.getLogger("sartiq.worker")

MAX_CONCURRENT_ACTIVITIES = 32
# Pollers per task type: the SDK's default is a fixed 5, which caps how fast a burst of
# generations gets its workflow and activity tasks (each poll is a round trip to the
# server). Autoscaling adds pollers on the server's backlog hints and drops them when idle.
# The bench's bare-workflow worker uses the same, so P1/P2 compare like with like.
WORKFLOW_POLLERS = PollerBehaviorAutoscaling(minimum=1, initial=5, maximum=40)
ACTIVITY_POLLERS = PollerBehaviorAutoscaling(minimum=1, initial=5, maximum=40)


@dataclass
class WorkerSet:
    """The workers of one process and what must be closed after them."""

    workers: list[Worker]
    closers: list[Callable[[], Awaitable[Any]]] = field(default_factory=list)

    async def close(self) -> None:
        for closer in reversed(self.closers):
            with contextlib.suppress(Exception):
                await closer()


def build_workers(
    client: Client,
    settings: Settings,
    executor: ThreadPoolExecutor,
    *,
    task_queue_prefix: str = "",
    interceptors: Sequence[Interceptor] = (),
) -> WorkerSet:
    """One worker per task queue, each with the workflows and activities of that queue.
    `interceptors` go to every worker (the fault suite's kill worker adds its own)."""
    engine = create_engine(settings, application_name="sartiq-worker")
    clients = Clients(
        settings=settings,
        sessionmaker=create_sessionmaker(engine),
        redis=Redis.from_url(settings.REDIS_URL),
        compute=ComputeClient.from_settings(
            settings, timeout=settings.COMPUTE_REQUEST_TIMEOUT_SECONDS
        ),
        store=ObjectStore(settings),
    )
    activities = activities_by_queue(clients)
    workers = []
    for queue, workflows in WORKFLOWS_BY_QUEUE.items():
        queue_activities = activities.get(queue, [])
        if not workflows and not queue_activities:
            continue
        workers.append(
            Worker(
                client,
                task_queue=task_queue_prefix + queue,
                workflows=workflows,
                activities=queue_activities,
                # Sync activities (boto3, Pillow) run here; as large as the concurrency cap.
                activity_executor=executor,
                max_concurrent_activities=MAX_CONCURRENT_ACTIVITIES,
                workflow_task_poller_behavior=WORKFLOW_POLLERS,
                activity_task_poller_behavior=ACTIVITY_POLLERS,
                interceptors=interceptors,
            )
        )
    closers = [engine.dispose, clients.redis.aclose, clients.compute.aclose]
    return WorkerSet(workers=workers, closers=closers)


def build_bridge(client: Client, settings: Settings) -> tuple[ComputeEventBridge, Redis]:
    # Blocking reads need a socket timeout longer than the block time.
    redis = Redis.from_url(settings.REDIS_URL, socket_timeout=10, socket_connect_timeout=5)
    bridge = ComputeEventBridge(
        redis=redis,
        client=client,
        stream=settings.COMPUTE_EVENTS_STREAM,
        group=settings.COMPUTE_EVENTS_GROUP,
    )
    return bridge, redis


async def sync_schedules_at_start(client: Client, settings: Settings) -> None:
    """Create or update the periodic jobs' schedules (idempotent: every worker start does
    it). A failure is logged, not fatal: the worker still serves, and `sartiq schedules
    sync` can be run by hand."""
    try:
        outcome = await sync_schedules(client, settings)
    except Exception:
        log.exception("schedule sync failed")
        return
    log.info("schedules: %s", ", ".join(f"{k} {v}" for k, v in outcome.items()))


async def run(settings: Settings) -> None:
    runtime = None
    if settings.WORKER_METRICS_PORT:
        start_http_server(settings.WORKER_METRICS_PORT, addr="127.0.0.1")
        runtime = metrics_runtime(settings.WORKER_METRICS_PORT + 1)
    client = await connect(settings, runtime=runtime)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    with ThreadPoolExecutor(max_workers=MAX_CONCURRENT_ACTIVITIES) as executor:
        worker_set = build_workers(
            client, settings, executor, task_queue_prefix=settings.TASK_QUEUE_PREFIX
        )
        bridge, bridge_redis = build_bridge(client, settings)
        tasks = [asyncio.create_task(w.run()) for w in worker_set.workers]
        bridge_task = asyncio.create_task(bridge.run())
        # In the background: serving work must not wait for the schedules' round trips.
        sync_task = asyncio.create_task(sync_schedules_at_start(client, settings))
        log.info("worker running on %s", ", ".join(w.task_queue for w in worker_set.workers))
        await stop.wait()
        log.info("worker shutting down")
        bridge.stop()
        sync_task.cancel()
        bridge_task.cancel()
        await asyncio.gather(bridge_task, return_exceptions=True)
        await asyncio.gather(*(w.shutdown() for w in worker_set.workers), return_exceptions=True)
        await asyncio.gather(*tasks, return_exceptions=True)
        await worker_set.close()
        await bridge_redis.aclose()


def main() -> None:
    settings = get_settings()
    configure_logging(json_logs=settings.json_logs, level=settings.LOG_LEVEL)
    log_redaction.install()  # httpx logs presigned URLs, signatures included
    asyncio.run(run(settings))


if __name__ == "__main__":
    main()
