"""The baseline of P1/P2: a bare workflow with as many activities and signals as a
generation, but empty bodies (no database, bucket or events), served by its own worker
process (`python -m bench.bare`, task queue <TASK_QUEUE_PREFIX>bench-bare).

Only light imports at module level: the workflow sandbox re-imports this module.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta

from temporalio import activity, workflow

BARE_QUEUE = "bench-bare"
SIGNAL = "event"


@dataclass(frozen=True)
class BareInput:
    # Activities before the wait for signals (a generation submits, then waits).
    before: int
    signals: int
    after: int


@activity.defn(name="bench.noop")
async def noop(step: int) -> int:
    return step


@workflow.defn(name="BenchBareWorkflow")
class BareWorkflow:
    def __init__(self) -> None:
        self.received = 0

    @workflow.signal(name=SIGNAL)
    def event(self, _payload: dict[str, str]) -> None:
        self.received += 1

    @workflow.run
    async def run(self, data: BareInput) -> int:
        step = 0
        for _ in range(data.before):
            step = await workflow.execute_activity(
                noop, step + 1, start_to_close_timeout=timedelta(seconds=30)
            )
        await workflow.wait_condition(lambda: self.received >= data.signals)
        for _ in range(data.after):
            step = await workflow.execute_activity(
                noop, step + 1, start_to_close_timeout=timedelta(seconds=30)
            )
        return step


async def _serve() -> None:
    import asyncio
    import signal

    from temporalio.worker import Worker

    from core.config import get_settings
    from core.temporal import connect
    from worker import ACTIVITY_POLLERS, MAX_CONCURRENT_ACTIVITIES, WORKFLOW_POLLERS

    settings = get_settings()
    client = await connect(settings)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    # The same concurrency limits as the production worker: only the bodies differ.
    async with Worker(
        client,
        task_queue=settings.TASK_QUEUE_PREFIX + BARE_QUEUE,
        workflows=[BareWorkflow],
        activities=[noop],
        max_concurrent_activities=MAX_CONCURRENT_ACTIVITIES,
        workflow_task_poller_behavior=WORKFLOW_POLLERS,
        activity_task_poller_behavior=ACTIVITY_POLLERS,
    ):
        await stop.wait()


if __name__ == "__main__":
    import asyncio

    asyncio.run(_serve())
