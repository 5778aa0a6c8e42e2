"""A local subscriber of the event hub: a bounded queue of its scopes' events, in id order."""

from __future__ import annotations

import asyncio
import collections
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

from core.events import OVERFLOW_REASON, Event


@dataclass(frozen=True, slots=True)
class Resync:
    """Some events could not be delivered: the client must reload its state (REST)."""

    reason: str


class SubscriptionClosed(Exception):
    def __init__(self, reason: str, *, overflow: bool = False) -> None:
        super().__init__(reason)
        self.reason = reason
        self.overflow = overflow


_CLOSED = object()


class Subscription:
    """A local subscriber's bounded queue of the events of its scopes, in id order."""

    def __init__(self, scopes: frozenset[str], queue_size: int) -> None:
        self.scopes = scopes
        self.start_id = "0"  # the position just before the first event this delivers
        self._queue: asyncio.Queue[Any] = asyncio.Queue(maxsize=max(queue_size, 1))
        self._backlog: collections.deque[Event | Resync] = collections.deque()
        self._high: int | None = None  # highest id queued (None: position not yet known)
        self._delivered = -1  # highest id handed out by get()
        self._closed = asyncio.Event()
        self.close_reason: str | None = None
        self.overflowed = False

    @property
    def closed(self) -> bool:
        return self._closed.is_set()

    async def wait_closed(self) -> None:
        await self._closed.wait()

    async def get(self) -> Event | Resync:
        """The next event (or a Resync); raises SubscriptionClosed once closed."""
        while True:
            if self._backlog:
                item = self._backlog.popleft()
            else:
                item = await self._queue.get()
            if item is _CLOSED:
                self._queue.put_nowait(_CLOSED)  # every later get() raises as well
                assert self.close_reason is not None
                raise SubscriptionClosed(self.close_reason, overflow=self.overflowed)
            if isinstance(item, Event):
                if item.id <= self._delivered:
                    continue  # already delivered through the replay that overlapped it
                self._delivered = item.id
            return item

    def __aiter__(self) -> AsyncIterator[Event | Resync]:
        return self._iterate()

    async def _iterate(self) -> AsyncIterator[Event | Resync]:
        while True:
            try:
                yield await self.get()
            except SubscriptionClosed as exc:
                if exc.overflow:
                    raise
                return

    # Called by the hub, on the event loop, never awaiting: a full queue drops this
    # subscriber instead of blocking the fan-out to everyone else.
    def _offer(self, item: Event | Resync, *, high: int | None = None) -> None:
        if self.closed:
            return
        if isinstance(item, Event):
            if self._high is not None and item.id <= self._high:
                return  # queued already (a replay and the live channel overlap)
            high = item.id
        try:
            self._queue.put_nowait(item)
        except asyncio.QueueFull:
            self._close(OVERFLOW_REASON, overflow=True)
            return
        if high is not None:
            self._high = high if self._high is None else max(self._high, high)

    def _close(self, reason: str, *, overflow: bool = False) -> None:
        if self.closed:
            return
        self.close_reason = reason
        self.overflowed = overflow
        self._backlog.clear()
        while not self._queue.empty():
            self._queue.get_nowait()
        self._queue.put_nowait(_CLOSED)
        self._closed.set()


@dataclass
class HubStats:
    connects: int = 0  # successful (re)subscriptions to Redis
    disconnects: int = 0
    overflows: int = 0  # subscribers dropped for a full queue
    resyncs: int = 0  # subscribers told to resync (replay incomplete)
    revocations: int = 0  # control messages received
