"""The connection pool of every engine: SQLAlchemy's asyncio queue pool, first come first
served.

SQLAlchemy's pool waits on an `asyncio.Queue`: a connection returned while others wait can be
taken by a newcomer before the woken waiter runs, and the waiter that lost it goes to the back
of the line. Under load (more concurrent users than connections: the API at 50 concurrent
requests, the worker at 32 concurrent activities, against 20 connections) a few checkouts
then wait many times longer than the rest; the benchmark's GET /products/ p99 was 5x its p50.
Here a checkout first takes a permit from a FifoGate sized to the pool, so it never waits
inside the pool, and a permit released is handed to the oldest waiter. The permit is held
exactly as long as the connection (not the whole request: a route that committed and then
starts a workflow has already given it back).
"""

from __future__ import annotations

import asyncio
from typing import Any

from sqlalchemy import exc
from sqlalchemy.pool import AsyncAdaptedQueuePool, ConnectionPoolEntry
from sqlalchemy.util import await_

from core.fifo_gate import FifoGate


class FairAsyncQueuePool(AsyncAdaptedQueuePool):
    def __init__(self, creator: Any, pool_size: int = 5, max_overflow: int = 10, **kw: Any):
        super().__init__(creator, pool_size=pool_size, max_overflow=max_overflow, **kw)
        # pool_size 0 or max_overflow -1 mean "no limit": nothing to be fair about.
        unlimited = pool_size <= 0 or max_overflow < 0
        self._gate = None if unlimited else FifoGate(pool_size + max(max_overflow, 0))

    def _do_get(self) -> ConnectionPoolEntry:
        if self._gate is None:
            return super()._do_get()
        if self._gate.try_acquire():  # the common case: no task, no timer
            return self._get_admitted()
        try:
            # Runs inside SQLAlchemy's greenlet bridge, where await_ is allowed.
            await_(asyncio.wait_for(self._gate.acquire(), self._timeout))
        except TimeoutError:
            raise exc.TimeoutError(
                f"QueuePool limit of size {self.size()} overflow {self._max_overflow} "
                f"reached, connection timed out, timeout {self._timeout:0.2f}",
                code="3o7r",
            ) from None
        return self._get_admitted()

    def _get_admitted(self) -> ConnectionPoolEntry:
        assert self._gate is not None
        try:
            return super()._do_get()
        except BaseException:
            self._gate.release()
            raise

    def _do_return_conn(self, record: ConnectionPoolEntry) -> None:
        try:
            super()._do_return_conn(record)
        finally:
            # After the connection is back in the queue, so the next holder finds it there.
            if self._gate is not None:
                self._gate.release()

    @property
    def waiting(self) -> int:
        """Checkouts waiting for a connection (for tests and metrics)."""
        return 0 if self._gate is None else self._gate.waiting
