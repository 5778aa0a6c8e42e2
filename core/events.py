"""Real-time events (DESIGN §7): publish, replay, and the per-process fan-out hub.

An event belongs to exactly one scope, `org:{organization_id}` or `user:{owner_id}`. Publishing
takes a global, monotonically increasing id (`events:seq`), appends the message to the capped
stream `events:{scope}` under the entry id `<id>-0`, and PUBLISHes it on the channel `{scope}`,
all in one Lua script, so the stream and the channel never disagree and ids are totally ordered
across scopes: a client that reconnects with `last_event_id` is replayed from all of its
scopes' streams, merged by id.

No FastAPI here: Temporal activities publish with this module too.
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import hashlib
import json
import logging
import os
import random
import socket
import uuid
from collections.abc import AsyncIterator, Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from pydantic_core import to_json
from redis.asyncio import ConnectionPool, Redis
from redis.asyncio.client import PubSub
from redis.asyncio.retry import Retry
from redis.backoff import NoBackoff
from redis.exceptions import NoScriptError

log = logging.getLogger(__name__)

# Settings (module constants until core/config.py grows them; see the report).
STREAM_MAXLEN = 1000  # entries kept per scope stream (approximate trimming, MAXLEN ~)
DEDUPE_TTL_SECONDS = 3600  # how long a dedupe key suppresses a second publish
REPLAY_LIMIT = 1000  # most events replayed at once; past it the client must resync
SUBSCRIBER_QUEUE_SIZE = 256  # undelivered events a subscriber may hold before it is dropped
RECONNECT_BACKOFF_SECONDS = (0.1, 5.0)  # first and largest delay between reconnect attempts
KEEPALIVE_SECONDS = 10.0  # an idle pub/sub connection is pinged after this long...
KEEPALIVE_TIMEOUT_SECONDS = 10.0  # ...and declared dead if nothing answers within this
START_TIMEOUT_SECONDS = 5.0  # start() waits this long for the first subscription

SEQ_KEY = "events:seq"
OVERFLOW_REASON = "too many undelivered events"
SHUTDOWN_REASON = "server shutting down"
PATTERNS = ("org:*", "user:*")

# KEYS: sequence counter, scope stream, [dedupe marker]
# ARGV: channel, the message without its id (`"type":...}`), maxlen, dedupe ttl
_PUBLISH_LUA = """
if KEYS[3] then
  local first = redis.call('GET', KEYS[3])
  if first then return first end
end
local id = string.format('%d', redis.call('INCR', KEYS[1]))
local message = '{"id":"' .. id .. '",' .. ARGV[2]
local added = redis.pcall('XADD', KEYS[2], 'MAXLEN', '~', ARGV[3], id .. '-0', 'm', message)
if type(added) == 'table' and added.err then
  -- The counter is behind this stream (its key was lost while the stream survived): move it
  -- past the stream's newest entry, so publishing heals itself instead of failing forever.
  local newest = redis.call('XREVRANGE', KEYS[2], '+', '-', 'COUNT', 1)
  redis.call('SET', KEYS[1], string.match(newest[1][1], '^(%d+)'))
  id = string.format('%d', redis.call('INCR', KEYS[1]))
  message = '{"id":"' .. id .. '",' .. ARGV[2]
  redis.call('XADD', KEYS[2], 'MAXLEN', '~', ARGV[3], id .. '-0', 'm', message)
end
redis.call('PUBLISH', ARGV[1], message)
if KEYS[3] then redis.call('SET', KEYS[3], id, 'EX', ARGV[4]) end
return id
"""
_PUBLISH_SHA = hashlib.sha1(_PUBLISH_LUA.encode()).hexdigest()


# -- scopes -------------------------------------------------------------------------------


def org_scope(organization_id: uuid.UUID | str) -> str:
    return f"org:{organization_id}"


def user_scope(user_id: uuid.UUID | str) -> str:
    return f"user:{user_id}"


def scope_for(organization_id: uuid.UUID | str | None, user_id: uuid.UUID | str | None) -> str:
    """The one scope of an entity: its organization's, else its owner's."""
    if organization_id is not None:
        return org_scope(organization_id)
    if user_id is not None:
        return user_scope(user_id)
    raise ValueError("an event needs an organization or a user")


def stream_key(scope: str) -> str:
    return f"events:{scope}"


def _text(value: bytes | str) -> str:
    return value.decode() if isinstance(value, bytes) else value


def _event_id(value: str | int) -> int:
    """A client-supplied id as an int; ValueError unless it is a non-negative integer."""
    number = int(value)
    if number < 0:
        raise ValueError("event ids are non-negative")
    return number


# -- publish / replay -----------------------------------------------------------------------


async def publish(
    redis: Redis,
    *,
    type: str,
    payload: Mapping[str, Any],
    organization_id: uuid.UUID | None,
    user_id: uuid.UUID | None,
    dedupe_key: str | None = None,
    maxlen: int = STREAM_MAXLEN,
) -> str:
    """Publish one event to its scope; returns its id.

    With `dedupe_key`, a second publish under the same key within DEDUPE_TTL_SECONDS publishes
    nothing and returns the first event's id (a retried activity never emits twice). An entity
    with neither an organization nor an owner has no audience: nothing is published, "" is
    returned (an orphaned row must not make an activity fail forever)."""
    try:
        scope = scope_for(organization_id, user_id)
    except ValueError:
        log.warning("event %s has no organization and no owner; not published", type)
        return ""
    ts = datetime.now(UTC).isoformat().replace("+00:00", "Z")
    # The message minus its leading `{"id":"<seq>",`, which only the script knows.
    body = b'"type":%s,"ts":%s,"payload":%s}' % (to_json(type), to_json(ts), to_json(payload))
    keys = [SEQ_KEY, stream_key(scope)]
    if dedupe_key is not None:
        keys.append(f"events:dedupe:{dedupe_key}")
    args = [scope, body, maxlen, DEDUPE_TTL_SECONDS]
    try:
        result = await redis.evalsha(_PUBLISH_SHA, len(keys), *keys, *args)
    except NoScriptError:  # first use on this server (or after SCRIPT FLUSH): EVAL caches it
        result = await redis.eval(_PUBLISH_LUA, len(keys), *keys, *args)
    return _text(result)


async def current_id(redis: Redis) -> str:
    """The id of the newest event published anywhere ("0" before the first)."""
    return _text(await redis.get(SEQ_KEY) or b"0")


@dataclass(frozen=True, slots=True)
class Event:
    """One published message: its id and its JSON text exactly as published."""

    id: int
    data: str

    def message(self) -> dict[str, Any]:
        return json.loads(self.data)


@dataclass(frozen=True, slots=True)
class ReplayResult:
    events: list[Event]
    head: int  # the newest id anywhere when the streams were read
    complete: bool  # False: trimmed, too many, or an unknown id; the client must resync


async def read_since(
    redis: Redis,
    scopes: Iterable[str],
    after_id: str | int,
    *,
    limit: int = REPLAY_LIMIT,
    maxlen: int = STREAM_MAXLEN,
) -> ReplayResult:
    """The events of `scopes` with an id above `after_id`, in id order, read in one MULTI so
    `head` and the streams are one snapshot. Raises ValueError for a malformed `after_id`.

    A scope stream that holds `maxlen` entries (so it may have been trimmed) and whose oldest
    entry is newer than `after_id + 1` may have lost events the client never saw: that, or more
    than `limit` events, makes the result incomplete. (A stream that was trimmed only has
    already missed at least `maxlen` events for this client, so the test is exact in practice.)
    """
    after = _event_id(after_id)
    scopes = sorted(set(scopes))
    async with redis.pipeline(transaction=True) as pipe:
        pipe.get(SEQ_KEY)
        for scope in scopes:
            key = stream_key(scope)
            pipe.xrange(key, min=f"{after + 1}-0", count=limit + 1)
            pipe.xlen(key)
            pipe.xrange(key, count=1)
        results = await pipe.execute()
    head = int(results[0] or 0)
    events: list[Event] = []
    complete = after <= head  # an id from the future: the counter was reset, resync
    for i in range(len(scopes)):
        entries, length, oldest = results[1 + 3 * i : 4 + 3 * i]
        events.extend(Event(_entry_seq(eid), _entry_message(fields)) for eid, fields in entries)
        if length >= maxlen and oldest and _entry_seq(oldest[0][0]) > after + 1:
            complete = False
    events.sort(key=lambda event: event.id)
    if len(events) > limit:
        complete = False
        del events[limit:]
    return ReplayResult(events, head, complete)


def _entry_seq(entry_id: bytes | str) -> int:
    return int(_text(entry_id).partition("-")[0])


def _entry_message(fields: Mapping[Any, Any]) -> str:
    # bytes keys from a raw client, str keys from one made with decode_responses=True
    return _text(fields[b"m"] if b"m" in fields else fields["m"])


async def replay(
    redis: Redis, scopes: list[str], after_id: str, limit: int = REPLAY_LIMIT
) -> list[dict[str, Any]]:
    """The messages of `scopes` published after `after_id`, oldest first (at most `limit`)."""
    result = await read_since(redis, scopes, after_id, limit=limit)
    return [event.message() for event in result.events]


# -- the hub ----------------------------------------------------------------------------------


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
    """

    def __init__(
        self,
        redis: Redis,
        *,
        queue_size: int = SUBSCRIBER_QUEUE_SIZE,
        replay_limit: int = REPLAY_LIMIT,
        maxlen: int = STREAM_MAXLEN,
    ) -> None:
        self.redis = redis
        self.queue_size = queue_size
        self.replay_limit = replay_limit
        self.maxlen = maxlen
        # Named so an operator (or a test) can find this process's connection in CLIENT LIST.
        self.client_name = f"sartiq-events:{socket.gethostname()}:{os.getpid()}:{id(self):x}"
        self.stats = HubStats()
        self._by_scope: dict[str, set[Subscription]] = {}
        self._subscriptions: set[Subscription] = set()
        self._task: asyncio.Task[None] | None = None
        self._connected = asyncio.Event()
        self._pool: ConnectionPool | None = None
        self._stopping = False

    @property
    def connected(self) -> bool:
        return self._connected.is_set()

    @property
    def subscriber_count(self) -> int:
        return len(self._subscriptions)

    async def start(self, ready_within: float = START_TIMEOUT_SECONDS) -> None:
        """Start the loop and wait (bounded) for the first subscription; with Redis down the
        process still starts and the loop keeps trying."""
        if self._task is not None:
            return
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
            first, cap = RECONNECT_BACKOFF_SECONDS
            delay = min(cap, first * 2 ** max(failures - 1, 0))
            await asyncio.sleep(delay * random.uniform(0.5, 1.0))

    async def _subscribe(self, pubsub: PubSub) -> list[dict[str, Any]]:
        """PSUBSCRIBE and wait for both confirmations; events that arrive meanwhile are kept
        for after the catch-up replay, so ids stay in order."""
        await pubsub.psubscribe(*PATTERNS)
        confirmed: set[str] = set()
        early: list[dict[str, Any]] = []
        async with asyncio.timeout(KEEPALIVE_TIMEOUT_SECONDS):
            while len(confirmed) < len(PATTERNS):
                message = await pubsub.get_message(timeout=None)
                if message is None:
                    continue
                if message["type"] == "psubscribe":
                    confirmed.add(_text(message["channel"]))
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
        poll = min(1.0, KEEPALIVE_SECONDS)  # also how soon stop() is noticed
        while not self._stopping:
            message = await pubsub.get_message(timeout=poll)
            now = loop.time()
            if message is not None:
                last_heard, pinged = now, False
                if message["type"] == "pmessage":
                    self._dispatch(message)
                continue
            idle = now - last_heard
            if idle > KEEPALIVE_SECONDS + KEEPALIVE_TIMEOUT_SECONDS:
                raise ConnectionError(f"no answer from Redis pub/sub for {idle:.0f}s")
            if idle > KEEPALIVE_SECONDS and not pinged:
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
