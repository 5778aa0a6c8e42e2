"""The production worker process (`worker.main`) with two test-only interceptors:
`python -m tests.chaos.kill_worker` (cwd: the project root, env: as for `python worker.py`).

1. Kill at a boundary: when the activity named for a workflow id in
   `$CHAOS_KILL_DIR/targets.json` ({workflow_id: activity type}) returns for the first time
   (its effects committed, its result not yet reported to Temporal: the worst moment for
   duplicates), a marker file is written and the process SIGKILLs itself. The result is
   never reported; the retried attempt (in the restarted process) runs the body again.
   Several runs reach their boundaries close together: the first one to arrive holds its
   result and the kill comes once every still-armed target has arrived, or after
   `$CHAOS_KILL_WINDOW_SECONDS`, so one kill covers several runs (each held result is lost
   exactly as if the kill had come at once: it was never reported).
2. Quick redispatch: every scheduled activity's start-to-close and heartbeat timeouts are
   capped at `$CHAOS_ACTIVITY_CAP_SECONDS`, so Temporal retries an attempt lost with the
   process after seconds instead of 30 s to 12 h. Deterministic (a function of the command
   alone), so replays in the restarted process see the same commands.
"""

from __future__ import annotations

import asyncio
import json
import os
import signal
from datetime import timedelta
from pathlib import Path
from typing import Any

from temporalio import activity, workflow
from temporalio.worker import (
    ActivityInboundInterceptor,
    ExecuteActivityInput,
    Interceptor,
    StartActivityInput,
    WorkflowInboundInterceptor,
    WorkflowInterceptorClassInput,
    WorkflowOutboundInterceptor,
)

KILL_DIR_ENV = "CHAOS_KILL_DIR"
CAP_ENV = "CHAOS_ACTIVITY_CAP_SECONDS"
WINDOW_ENV = "CHAOS_KILL_WINDOW_SECONDS"
TARGETS_FILE = "targets.json"


def marker_name(workflow_id: str, activity_type: str) -> str:
    """The file that says this boundary of this run has had its kill."""
    return f"{workflow_id}__{activity_type}.killed"


class Killer:
    """Arms, holds and fires the kill of this process."""

    def __init__(self, directory: Path, window: float) -> None:
        self.directory = directory
        self.window = window
        self._timer: asyncio.TimerHandle | None = None

    def targets(self) -> dict[str, str]:
        # Re-read on every completion: the test adds runs while the worker is up.
        path = self.directory / TARGETS_FILE
        return json.loads(path.read_text()) if path.exists() else {}

    def armed(self, targets: dict[str, str]) -> set[str]:
        return {
            wid
            for wid, kind in targets.items()
            if not (self.directory / marker_name(wid, kind)).exists()
        }

    async def hold_and_die(self, workflow_id: str, activity_type: str) -> None:
        # The marker first: the restarted process must let the retried attempt through.
        (self.directory / marker_name(workflow_id, activity_type)).write_text(str(os.getpid()))
        loop = asyncio.get_running_loop()
        if not self.armed(self.targets()):
            self.die()
        if self._timer is None:
            self._timer = loop.call_later(self.window, self.die)
        await asyncio.Event().wait()  # the result is never reported

    @staticmethod
    def die() -> None:
        os.kill(os.getpid(), signal.SIGKILL)


class _KillAtBoundary(ActivityInboundInterceptor):
    def __init__(self, next: ActivityInboundInterceptor, killer: Killer) -> None:
        super().__init__(next)
        self.killer = killer

    async def execute_activity(self, input: ExecuteActivityInput) -> Any:
        result = await super().execute_activity(input)
        info = activity.info()
        if self.killer.targets().get(info.workflow_id or "") == info.activity_type:
            armed = self.killer.armed({info.workflow_id or "": info.activity_type})
            if armed:
                await self.killer.hold_and_die(info.workflow_id or "", info.activity_type)
        return result


def _capped(value: timedelta | None, cap: timedelta) -> timedelta:
    return cap if value is None or value > cap else value


def _cap_outbound(cap: timedelta) -> type[WorkflowInboundInterceptor]:
    class CapOutbound(WorkflowOutboundInterceptor):
        def start_activity(self, input: StartActivityInput) -> workflow.ActivityHandle[Any]:
            input.start_to_close_timeout = _capped(input.start_to_close_timeout, cap)
            if input.heartbeat_timeout is not None:
                input.heartbeat_timeout = _capped(input.heartbeat_timeout, cap)
            return super().start_activity(input)

    class CapInbound(WorkflowInboundInterceptor):
        def init(self, outbound: WorkflowOutboundInterceptor) -> None:
            super().init(CapOutbound(outbound))

    return CapInbound


class ChaosInterceptor(Interceptor):
    def __init__(self, killer: Killer, cap: timedelta) -> None:
        self.killer = killer
        self.inbound = _cap_outbound(cap)

    def intercept_activity(self, next: ActivityInboundInterceptor) -> ActivityInboundInterceptor:
        return _KillAtBoundary(next, self.killer)

    def workflow_interceptor_class(
        self, input: WorkflowInterceptorClassInput
    ) -> type[WorkflowInboundInterceptor]:
        return self.inbound


def main() -> None:
    import worker

    killer = Killer(Path(os.environ[KILL_DIR_ENV]), float(os.environ.get(WINDOW_ENV, "1.5")))
    cap = timedelta(seconds=float(os.environ.get(CAP_ENV, "6")))
    interceptor = ChaosInterceptor(killer, cap)
    production = worker.build_workers

    def build_workers(*args: Any, **kwargs: Any) -> worker.WorkerSet:
        return production(*args, interceptors=[interceptor], **kwargs)

    # worker.run() looks the builder up at call time: everything else is production code.
    worker.build_workers = build_workers  # type: ignore[assignment]
    worker.main()


if __name__ == "__main__":
    main()
