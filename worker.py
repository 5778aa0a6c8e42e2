"""The Temporal worker process: `python worker.py`.

Assembles clients (database, Temporal), builds the activity classes with them, and runs
one worker per task queue until SIGINT/SIGTERM.
"""

from __future__ import annotations

import asyncio
import logging
import signal
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from temporalio.client import Client
from temporalio.worker import Worker

from activities.maintenance import MaintenanceActivities
from core.config import Settings, get_settings
from core.db import create_engine, create_sessionmaker
from core.temporal import MAINTENANCE_QUEUE, connect
from workflows.registry import WORKFLOWS_BY_QUEUE

log = logging.getLogger("sartiq.worker")

MAX_CONCURRENT_ACTIVITIES = 32


def activities_by_queue(
    maintenance: MaintenanceActivities,
) -> dict[str, list[Callable[..., Any]]]:
    return {MAINTENANCE_QUEUE: [maintenance.delete_expired_sessions]}


def build_workers(
    client: Client, settings: Settings, executor: ThreadPoolExecutor, *, task_queue_prefix: str = ""
) -> tuple[list[Worker], Callable[[], Any]]:
    """One worker per task queue with something to run, and a closer for their clients."""
    engine = create_engine(settings, application_name="sartiq-worker")
    maintenance = MaintenanceActivities(create_sessionmaker(engine))
    activities = activities_by_queue(maintenance)
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
            )
        )
    return workers, engine.dispose


async def run(settings: Settings) -> None:
    client = await connect(settings)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    with ThreadPoolExecutor(max_workers=MAX_CONCURRENT_ACTIVITIES) as executor:
        workers, close = build_workers(client, settings, executor)
        runs = [asyncio.create_task(w.run()) for w in workers]
        log.info("worker running on %s", ", ".join(w.task_queue for w in workers))
        await stop.wait()
        log.info("worker shutting down")
        await asyncio.gather(*(w.shutdown() for w in workers), return_exceptions=True)
        await asyncio.gather(*runs, return_exceptions=True)
        await close()


def main() -> None:
    logging.basicConfig(
        level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )
    asyncio.run(run(get_settings()))


if __name__ == "__main__":
    main()
