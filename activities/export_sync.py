"""Helpers of sync (threaded) activities: a side-thread heartbeat and a throttled reporter."""

from __future__ import annotations

import contextvars
import logging
import threading
import time
from collections.abc import Callable
from typing import Any

from temporalio import activity
from temporalio.exceptions import CancelledError

log = logging.getLogger(__name__)


class Pulse:
    """Heartbeats `details()` from a side thread every `every` seconds while a sync activity
    works, so converting one huge image never outlasts the heartbeat timeout. The thread
    runs in a copy of the activity's context (`activity.heartbeat` needs it)."""

    def __init__(self, details: Callable[[], Any], *, every: float) -> None:
        self._details = details
        self._every = every
        self._context = contextvars.copy_context()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="export-pulse", daemon=True)

    def _run(self) -> None:
        while not self._stop.wait(self._every):
            details = self._details()
            if details is not None:
                try:
                    self._context.run(activity.heartbeat, details)
                except Exception:  # the activity is ending; its own thread reports why
                    return

    def __enter__(self) -> Pulse:
        self._thread.start()
        return self

    def __exit__(self, *_: object) -> None:
        self._stop.set()
        self._thread.join(timeout=5)


class Throttled:
    """Calls `report(done, failed)` at most every `every` seconds (and on flush); a failed
    report is logged, never fatal: progress is a courtesy, the archive is the job."""

    def __init__(self, report: Callable[[int, int], None], *, every: float) -> None:
        self._report = report
        self._every = every
        self._last = 0.0

    def __call__(self, done: int, failed: int) -> None:
        now = time.monotonic()
        if now - self._last >= self._every:
            self._last = now
            self._send(done, failed)

    def flush(self, done: int, failed: int) -> None:
        self._send(done, failed)

    def _send(self, done: int, failed: int) -> None:
        try:
            self._report(done, failed)
        except CancelledError:
            raise
        except Exception:
            log.warning("export progress report failed", exc_info=True)
