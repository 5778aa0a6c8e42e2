"""An API process and the production worker of its own, on task queues of their own, whose
mail goes to an SMTP server at 127.0.0.1:`smtp_port` (a relay, a refusing server, or
nothing at all): the mail tests watch MailWorkflow runs against such servers."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import AsyncExitStack, asynccontextmanager
from dataclasses import dataclass

import httpx
from temporalio.client import Client, WorkflowHandle

from api.main import create_app
from core.config import Settings
from core.temporal import DEFAULT_QUEUE
from tests.helpers import Api, eventually


@dataclass
class MailStack:
    api: Api  # the stack's API process (its own rate limits, its own task queues)
    settings: Settings
    temporal: Client

    @property
    def queue(self) -> str:
        return self.settings.TASK_QUEUE_PREFIX + DEFAULT_QUEUE

    async def mail_runs(self, count: int = 1, within: float = 20) -> list[WorkflowHandle]:
        """The stack's MailWorkflow runs, oldest first, once `count` are listed."""
        query = f"WorkflowType = 'MailWorkflow' AND TaskQueue = '{self.queue}'"

        async def listed() -> list[WorkflowHandle] | None:
            runs = [run async for run in self.temporal.list_workflows(query)]
            if len(runs) < count:
                return None
            runs.sort(key=lambda run: run.start_time)
            return [self.temporal.get_workflow_handle(run.id, run_id=run.run_id) for run in runs]

        return await eventually(listed, within=within, what=f"{count} mail run(s) listed")


async def failed_attempts(handle: WorkflowHandle) -> int:
    """How many attempts of the run's pending activity have failed (0: none pending)."""
    pending = (await handle.describe()).raw_description.pending_activities
    return max((p.attempt - 1 for p in pending if p.HasField("last_failure")), default=0)


@asynccontextmanager
async def mail_stack(
    settings: Settings, temporal: Client, *, smtp_port: int
) -> AsyncIterator[MailStack]:
    from worker import MAX_CONCURRENT_ACTIVITIES, build_workers

    own = settings.model_copy(
        update={
            "SMTP_HOST": "127.0.0.1",
            "SMTP_PORT": smtp_port,
            "SMTP_TLS": False,
            "TASK_QUEUE_PREFIX": f"mail-{uuid.uuid4().hex[:8]}-",
        }
    )
    app = create_app(own)
    with ThreadPoolExecutor(max_workers=MAX_CONCURRENT_ACTIVITIES) as executor:
        workers = build_workers(temporal, own, executor, task_queue_prefix=own.TASK_QUEUE_PREFIX)
        try:
            async with AsyncExitStack() as stack:
                for w in workers.workers:
                    await stack.enter_async_context(w)
                await stack.enter_async_context(app.router.lifespan_context(app))
                client = await stack.enter_async_context(
                    httpx.AsyncClient(
                        transport=httpx.ASGITransport(app=app),
                        base_url="http://testserver",
                    )
                )
                yield MailStack(api=Api(client, own), settings=own, temporal=temporal)
        finally:
            await workers.close()
