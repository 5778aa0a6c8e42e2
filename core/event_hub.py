"""The per-process fan-out hub (DESIGN §7): one Redis pub/sub connection per API process,
local subscribers with bounded queues, replay on reconnect, and the control channel of
revocations (core/revocations.py).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import os
import random
import socket
from collections.abc import Awaitable, Callable, Iterable
from typing import Any

from redis.asyncio import ConnectionPool, Redis
from redis.asyncio.client import PubSub
from redis.asyncio.retry import Retry
from redis.backoff import NoBackoff

from core import revocations
from core.config import Settings
from core.events import (
    PATTERNS,
    SHUTDOWN_REASON,
    Event,
    _event_id,
    _text,
    current_id,
    read_since,
)
from core.revocations import Revocation
from core.subscription import HubStats, Resync, Subscription

RevocationHandler = Callable[[Revocation], Awaitable[None]]
ReconnectHandler = Callable[[], Awaitable[None]]

log = logging.getLogger(__name__)


class EventHub:
    """ONE Redis pub/sub connection per API process, fanning events out to local subscribers.

    It PSUBSCRIBEs `org:*` and `user:*` once rather than SUBSCRIBE-ing each scope with
    reference counts: the subscription never changes while sockets come and go, so a new
    socket needs no round trip (and no wait for a confirmation) before its replay can start,
    and a reconnect re-subscribes two patterns instead of every scope. The price is that each
    process receives every event and drops those without a local subscriber; at our volume
    (events per second per process, a few processes) that is cheap. Per-scope SUBSCRIBE, or
    sharded pub/sub, is the next step if that ever stops being true.

    redis-py's PubSub does not survive a dropped connection on its own; the loop catches the
    error, backs off (capped exponential with jitter), subscribes again on a fresh connection,
    and replays each subscriber from the last id it queued, so nothing published during the
    outage is lost (or, if the streams no longer hold it, the subscriber gets a Resync).

    Its sizes and timings are the EVENT_* settings it is built with, read once here.
    """

    def __init__(self, redis: Redis, settings: Settings) -> None:
        self.redis = redis
        self.queue_size = settings.EVENT_SUBSCRIBER_QUEUE_SIZE
        self.replay_limit = settings.EVENT_REPLAY_LIMIT
        self.maxlen = settings.EVENT_STREAM_MAXLEN
        # First and largest delay between reconnect attempts (capped exponential, jittered).
        self.reconnect_backoff = (
            settings.EVENT_HUB_RECONNECT_MIN_SECONDS,
            settings.EVENT_HUB_RECONNECT_MAX_SECONDS,
        )
        # An idle connection is pinged after this long, and declared dead if nothing answers
        # within the timeout.
        self.keepalive_seconds = settings.EVENT_HUB_KEEPALIVE_SECONDS
        self.keepalive_timeout_seconds = settings.EVENT_HUB_KEEPALIVE_TIMEOUT_SECONDS
        self.start_timeout_seconds = settings.EVENT_HUB_START_TIMEOUT_SECONDS
        # Named so an operator (or a test) can find this process's connection in CLIENT LIST.
        self.client_name = f"sartiq-events:{socket.gethostname()}:{os.getpid()}:{id(self):x}"
        self.stats = HubStats()
        self._by_scope: dict[str, set[Subscription]] = {}
        self._subscriptions: set[Subscription] = set()
        self._task: asyncio.Task[None] | None = None
        self._connected = asyncio.Event()
        self._pool: ConnectionPool | None = None
        self._stopping = False
        # The control channel: revocations reach every process's sockets (core/revocations.py).
        self._on_revocation: list[RevocationHandler] = []
        self._on_reconnect: list[ReconnectHandler] = []
        self._handler_tasks: set[asyncio.Task[None]] = set()

    @property
    def connected(self) -> bool:
        return self._connected.is_set()

    @property
    def subscriber_count(self) -> int:
        return len(self._subscriptions)

    async def start(self, ready_within: float | None = None) -> None:
        """Start the loop and wait (bounded) for the first subscription; with Redis down the
        process still starts and the loop keeps trying."""
        if self._task is not None:
            return
        if ready_within is None:
            ready_within = self.start_timeout_seconds
        self._stopping = False
        self._pool = self._dedicated_pool()
        self._task = asyncio.create_task(self._run(), name="event-hub")
        try:
            await asyncio.wait_for(self._connected.wait(), ready_within)
        except TimeoutError:
            log.warning(
                "event hub: Redis pub/sub not ready after %.1fs; still trying", ready_within
            )

    async def stop(self) -> None:
        self._stopping = True
        task, self._task = self._task, None
        if task is not None:
            # Python 3.11's asyncio.wait_for (inside redis-py's socket writes) can swallow a
            # cancellation that races with the write completing; the loop then runs on. So
            # cancel until the task is really gone (the flag ends the loop within a second).
            while not task.done():
                task.cancel()
                await asyncio.wait({task}, timeout=0.5)
            if not task.cancelled() and task.exception() is not None:
                log.warning("event hub: loop ended with %r", task.exception())
        for handler_task in list(self._handler_tasks):
            handler_task.cancel()
        for subscription in list(self._subscriptions):
            self.unsubscribe(subscription, reason=SHUTDOWN_REASON)
        if self._pool is not None:
            await self._pool.aclose()
            self._pool = None

    async def subscribe(
        self, scopes: Iterable[str], *, after_id: str | None = None
    ) -> Subscription:
        """A subscription to `scopes` delivering every event after `after_id` (replayed from
        the streams first), or, without it, every event after the current newest one.

        Registered before the replay is read, so an event is either in the replay or arrives
        live (or both: duplicates are dropped by id); an unusable `after_id` (malformed, too
        old, too many events behind) starts at the newest event with a Resync first."""
        subscription = Subscription(frozenset(scopes), self.queue_size)
        self._subscriptions.add(subscription)
        for scope in subscription.scopes:
            self._by_scope.setdefault(scope, set()).add(subscription)
        try:
            await self._position(subscription, after_id)
        except BaseException:
            self.unsubscribe(subscription)
            raise
        return subscription

    async def _position(self, subscription: Subscription, after_id: str | None) -> None:
        if after_id is None:
            head = int(await current_id(self.redis))
            self._start_at(subscription, head, [])
            return
        try:
            after = _event_id(after_id)
        except ValueError:
            head = int(await current_id(self.redis))
            self._start_at(subscription, head, [Resync("invalid last_event_id")])
            return
        result = await read_since(
            self.redis, subscription.scopes, after, limit=self.replay_limit, maxlen=self.maxlen
        )
        if result.complete:
            self._start_at(subscription, after, result.events, high=result.head)
        else:
            self.stats.resyncs += 1
            self._start_at(subscription, result.head, [Resync("missed events are not retained")])

    def _start_at(
        self,
        subscription: Subscription,
        start: int,
        backlog: list[Event] | list[Resync],
        high: int | None = None,
    ) -> None:
        # Live events queued meanwhile with an id up to `high` are in the backlog or before
        # `start`; get() skips them by id.
        high = start if high is None else high
        subscription.start_id = str(start)
        subscription._backlog.extend(backlog)
        subscription._delivered = max(subscription._delivered, start)
        current = subscription._high
        subscription._high = high if current is None else max(current, high)

    def unsubscribe(self, subscription: Subscription, reason: str = "unsubscribed") -> None:
        subscription._close(reason)
        self._forget(subscription)

    def set_scopes(self, subscription: Subscription, scopes: Iterable[str]) -> None:
        """Narrow or widen what a live subscription receives (a membership changed); events
        of a new scope flow from now on, none of a dropped one."""
        new = frozenset(scopes)
        for scope in subscription.scopes - new:
            members = self._by_scope.get(scope)
            if members is not None:
                members.discard(subscription)
                if not members:
                    del self._by_scope[scope]
        if subscription in self._subscriptions:
            for scope in new - subscription.scopes:
                self._by_scope.setdefault(scope, set()).add(subscription)
        subscription.scopes = new

    def on_revocation(self, handler: RevocationHandler) -> None:
        """Call `handler` with every control message this process receives."""
        self._on_revocation.append(handler)

    def on_reconnect(self, handler: ReconnectHandler) -> None:
        """Call `handler` after each re-subscription: control messages published while the
        connection was down are lost (pub/sub is at most once), so the owner re-checks."""
        self._on_reconnect.append(handler)

    def _spawn(self, coro: Awaitable[None]) -> None:
        # Handlers read the database: off the listen loop, with a strong reference kept.
        task = asyncio.ensure_future(coro)
        self._handler_tasks.add(task)
        task.add_done_callback(self._handler_done)

    def _handler_done(self, task: asyncio.Task[None]) -> None:
        self._handler_tasks.discard(task)
        if not task.cancelled() and task.exception() is not None:
            log.warning("event hub: control handler failed: %r", task.exception())

    def _control(self, message: dict[str, Any]) -> None:
        revocation = Revocation.decode(message["data"])
        if revocation is None:
            log.warning("event hub: ignoring a malformed control message")
            return
        self.stats.revocations += 1
        for handler in self._on_revocation:
            self._spawn(handler(revocation))

    def _forget(self, subscription: Subscription) -> None:
        self._subscriptions.discard(subscription)
        for scope in subscription.scopes:
            members = self._by_scope.get(scope)
            if members is not None:
                members.discard(subscription)
                if not members:
                    del self._by_scope[scope]

    # -- the loop ---------------------------------------------------------------------------

    def _dedicated_pool(self) -> ConnectionPool:
        # Same server and options as the app's client, plus a name, and no hidden retries:
        # redis-py would otherwise reconnect and re-subscribe behind our back and the events
        # published in between would be lost without the hub knowing it must replay.
        source = self.redis.connection_pool
        kwargs = dict(source.connection_kwargs)
        kwargs.update(client_name=self.client_name, retry=Retry(NoBackoff(), 0))
        kwargs.pop("retry_on_error", None)
        return ConnectionPool(connection_class=source.connection_class, **kwargs)

    async def _run(self) -> None:
        failures = 0
        while not self._stopping:
            pubsub: PubSub | None = None
            try:
                pubsub = Redis(connection_pool=self._pool).pubsub()
                early = await self._subscribe(pubsub)
                failures = 0
                self.stats.connects += 1
                self._connected.set()
                await self._catch_up_all()
                if self.stats.connects > 1:
                    for handler in self._on_reconnect:
                        self._spawn(handler())
                for message in early:
                    self._dispatch(message)
                await self._listen(pubsub)
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # any failure: start over on a fresh connection
                failures += 1
                if self._connected.is_set():
                    self.stats.disconnects += 1
                    log.warning("event hub: pub/sub connection lost (%r); reconnecting", exc)
                else:
                    log.warning("event hub: cannot subscribe (%r); retrying", exc)
            finally:
                self._connected.clear()
                if pubsub is not None:
                    with contextlib.suppress(Exception):
                        await pubsub.aclose()
            if self._stopping:
                break
            first, cap = self.reconnect_backoff
            delay = min(cap, first * 2 ** max(failures - 1, 0))
            await asyncio.sleep(delay * random.uniform(0.5, 1.0))

    async def _subscribe(self, pubsub: PubSub) -> list[dict[str, Any]]:
        """PSUBSCRIBE and wait for both confirmations; events that arrive meanwhile are kept
        for after the catch-up replay, so ids stay in order."""
        await pubsub.psubscribe(*PATTERNS)
        await pubsub.subscribe(revocations.CHANNEL)
        confirmed: set[str] = set()
        early: list[dict[str, Any]] = []
        async with asyncio.timeout(self.keepalive_timeout_seconds):
            while len(confirmed) < len(PATTERNS) + 1:
                message = await pubsub.get_message(timeout=None)
                if message is None:
                    continue
                if message["type"] in ("psubscribe", "subscribe"):
                    confirmed.add(_text(message["channel"]))
                elif message["type"] == "message":
                    self._control(message)
                elif message["type"] == "pmessage":
                    early.append(message)
        return early

    async def _catch_up_all(self) -> None:
        """After (re)subscribing: replay each subscriber from the last id it queued."""
        for subscription in list(self._subscriptions):
            if subscription.closed or subscription._high is None:
                continue  # a subscriber still positioning itself reads its own replay
            result = await read_since(
                self.redis,
                subscription.scopes,
                subscription._high,
                limit=self.replay_limit,
                maxlen=self.maxlen,
            )
            if result.complete:
                for event in result.events:
                    subscription._offer(event)
            else:
                self.stats.resyncs += 1
                subscription._offer(Resync("events missed while reconnecting"), high=result.head)
            if subscription.overflowed:
                self.stats.overflows += 1
                self._forget(subscription)

    async def _listen(self, pubsub: PubSub) -> None:
        loop = asyncio.get_running_loop()
        last_heard = loop.time()
        pinged = False
        keepalive, keepalive_timeout = self.keepalive_seconds, self.keepalive_timeout_seconds
        poll = min(1.0, keepalive)  # also how soon stop() is noticed
        while not self._stopping:
            message = await pubsub.get_message(timeout=poll)
            now = loop.time()
            if message is not None:
                last_heard, pinged = now, False
                if message["type"] == "pmessage":
                    self._dispatch(message)
                elif message["type"] == "message":
                    self._control(message)
                continue
            idle = now - last_heard
            if idle > keepalive + keepalive_timeout:
                raise ConnectionError(f"no answer from Redis pub/sub for {idle:.0f}s")
            if idle > keepalive and not pinged:
                await pubsub.ping()  # answered as a "pong" message on this connection
                pinged = True

    def _dispatch(self, message: dict[str, Any]) -> None:
        scope = _text(message["channel"])
        members = self._by_scope.get(scope)
        if not members:
            return
        data = _text(message["data"])
        try:
            event = Event(int(json.loads(data)["id"]), data)
        except (ValueError, KeyError, TypeError):
            log.warning("event hub: ignoring a malformed message on %s", scope)
            return
        for subscription in list(members):
            subscription._offer(event)
            if subscription.overflowed:
                self.stats.overflows += 1
                self._forget(subscription)
