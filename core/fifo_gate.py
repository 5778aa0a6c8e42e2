"""A first-come, first-served limit on concurrent holders (a fair semaphore): a permit
released goes straight to the oldest waiter, so nobody can overtake. core/fair_pool.py puts
one in front of every connection pool (and says why the pool's own queue is not enough)."""

from __future__ import annotations

import asyncio
from collections import deque
from types import TracebackType


class FifoGate:
    def __init__(self, capacity: int) -> None:
        if capacity < 1:
            raise ValueError("capacity must be at least 1")
        self.capacity = capacity
        self._free = capacity
        self._waiters: deque[asyncio.Future[None]] = deque()

    @property
    def waiting(self) -> int:
        return sum(1 for w in self._waiters if not w.done())

    @property
    def held(self) -> int:
        return self.capacity - self._free

    def try_acquire(self) -> bool:
        """Take a permit if one is free and nobody waits (without awaiting anything)."""
        if self._free > 0 and not self._waiters:
            self._free -= 1
            return True
        return False

    async def acquire(self) -> None:
        if self.try_acquire():
            return
        waiter: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._waiters.append(waiter)
        try:
            await waiter
        except asyncio.CancelledError:
            if waiter.done() and not waiter.cancelled():
                # The permit was handed over as the waiter was cancelled: pass it on.
                self.release()
            else:
                self._waiters.remove(waiter)
            raise

    def release(self) -> None:
        # Hand the permit to the oldest live waiter; the free count only grows when nobody
        # waits, so a newcomer can never take it in between.
        while self._waiters:
            waiter = self._waiters.popleft()
            if not waiter.done():
                waiter.set_result(None)
                return
        if self._free >= self.capacity:
            raise RuntimeError("FifoGate released more often than acquired")
        self._free += 1

    async def __aenter__(self) -> None:
        await self.acquire()

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.release()
