"""core.events against real Redis: publish, dedupe, replay, and the hub's fan-out/recovery."""

from __future__ import annotations

import asyncio
import json
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from datetime import UTC, datetime

import pytest
from redis.asyncio import Redis
from redis.asyncio.client import PubSub

from core import events
from core.config import Settings
from core.event_hub import EventHub
from core.events import Event
from core.subscription import Resync, Subscription, SubscriptionClosed
from tests.realtime.conftest import Publish

MakeHub = Callable[..., Awaitable[EventHub]]


@pytest.fixture
async def isolated_seq(redis: Redis, monkeypatch: pytest.MonkeyPatch) -> AsyncIterator[str]:
    """A private id counter, so ids are 1, 2, 3... whatever else uses this Redis."""
    key = f"test:events:seq:{uuid.uuid4().hex}"
    monkeypatch.setattr(events, "SEQ_KEY", key)
    yield key
    await redis.delete(key)


@pytest.fixture
async def make_hub(redis: Redis, isolated_seq: str, settings: Settings) -> AsyncIterator[MakeHub]:
    """Hubs built as the API builds its own, from settings: `make_hub(EVENT_...=value)`
    changes those settings for that hub only."""
    hubs: list[EventHub] = []

    async def _make(**overrides: object) -> EventHub:
        hub = EventHub(redis, settings.model_copy(update=overrides))
        hubs.append(hub)
        await hub.start()
        assert hub.connected
        return hub

    yield _make
    for hub in hubs:
        await hub.stop()


async def next_item(subscription: Subscription, within: float = 5.0) -> Event | Resync:
    async with asyncio.timeout(within):
        return await subscription.get()


async def next_ids(subscription: Subscription, n: int, within: float = 10.0) -> list[int]:
    ids = []
    async with asyncio.timeout(within):
        while len(ids) < n:
            item = await subscription.get()
            assert isinstance(item, Event), item
            ids.append(item.id)
    return ids


async def kill_pubsub_connection(redis: Redis, hub: EventHub) -> None:
    """Drop exactly this hub's connection (other runs share this Redis)."""
    clients = await redis.client_list(_type="pubsub")
    ids = [c["id"] for c in clients if c.get("name") == hub.client_name]
    assert ids, "the hub's pub/sub connection is not in CLIENT LIST"
    for client_id in ids:
        await redis.client_kill_filter(_id=client_id)


async def wait_for(condition: Callable[[], bool], within: float = 5.0) -> None:
    """Poll a state the hub exposes no event for (tests only)."""
    async with asyncio.timeout(within):
        while not condition():  # noqa: ASYNC110
            await asyncio.sleep(0.005)


# -- publish ---------------------------------------------------------------------------------


async def test_publish_appends_envelope_to_stream_and_channel(
    redis: Redis, publish: Publish, isolated_seq: str
) -> None:
    org, owner, entity = uuid.uuid4(), uuid.uuid4(), uuid.uuid4()
    pubsub = redis.pubsub()
    await pubsub.subscribe(f"org:{org}")
    try:
        assert (await pubsub.get_message(timeout=5))["type"] == "subscribe"
        event_id = await publish(
            type="generation.created",
            payload={"id": entity, "progress": 0.5},
            organization_id=org,
            user_id=owner,
        )
        live = await pubsub.get_message(timeout=5)
    finally:
        await pubsub.aclose()
    assert event_id == "1"
    [(entry_id, fields)] = await redis.xrange(f"events:org:{org}")
    assert entry_id == b"1-0"
    assert live is not None and live["data"] == fields[b"m"]
    message = json.loads(fields[b"m"])
    assert message == {
        "id": "1",
        "type": "generation.created",
        "ts": message["ts"],
        "payload": {"id": str(entity), "progress": 0.5},
    }
    assert datetime.fromisoformat(message["ts"]).utcoffset() == UTC.utcoffset(None)
    assert not await redis.exists(f"events:user:{owner}")  # one scope per event


async def test_publish_ids_increase_across_scopes(publish: Publish, isolated_seq: str) -> None:
    org, user = uuid.uuid4(), uuid.uuid4()
    ids = [
        await publish(organization_id=org, user_id=user),
        await publish(organization_id=None, user_id=user),
        await publish(organization_id=org, user_id=None),
    ]
    assert ids == ["1", "2", "3"]


async def test_publish_without_scope_publishes_nothing(redis: Redis, isolated_seq: str) -> None:
    result = await events.publish(
        redis, type="shot.updated", payload={}, organization_id=None, user_id=None
    )
    assert result == ""
    assert await redis.get(isolated_seq) is None


async def test_publish_with_dedupe_key_publishes_once(
    redis: Redis, publish: Publish, isolated_seq: str, settings: Settings
) -> None:
    org = uuid.uuid4()
    key = f"test:{uuid.uuid4().hex}"
    first = await publish(organization_id=org, payload={"n": 1}, dedupe_key=key)
    again = await publish(organization_id=org, payload={"n": 2}, dedupe_key=key)
    other = await publish(organization_id=org, payload={"n": 3}, dedupe_key=key + ":other")
    assert (first, again, other) == ("1", "1", "2")
    entries = await redis.xrange(f"events:org:{org}")
    assert [json.loads(f[b"m"])["payload"]["n"] for _, f in entries] == [1, 3]
    assert 0 < await redis.ttl(f"events:dedupe:{key}") <= settings.EVENT_DEDUPE_TTL_SECONDS


async def test_publish_after_counter_loss_continues_past_stream(
    redis: Redis, publish: Publish, isolated_seq: str
) -> None:
    org = uuid.uuid4()
    for _ in range(3):
        await publish(organization_id=org)
    await redis.delete(isolated_seq)  # the counter is lost, the stream survives
    assert await publish(organization_id=org) == "4"


async def test_publish_caps_stream_length(
    redis: Redis, publish: Publish, isolated_seq: str
) -> None:
    org = uuid.uuid4()
    for _ in range(250):
        await publish(organization_id=org, maxlen=10)
    # approximate trimming removes whole nodes (100 entries by default), never below maxlen
    assert 10 <= await redis.xlen(f"events:org:{org}") < 250


# -- replay ----------------------------------------------------------------------------------


async def test_replay_merges_scopes_in_id_order(publish: Publish, redis: Redis) -> None:
    org, user, stranger = uuid.uuid4(), uuid.uuid4(), uuid.uuid4()
    ids = []
    for i in range(6):
        target = {"organization_id": org} if i % 2 else {"user_id": user}
        ids.append(await publish(payload={"i": i}, **target))
        await publish(user_id=stranger)  # interleaved, not ours
    scopes = [events.org_scope(org), events.user_scope(user)]
    replayed = await events.replay(redis, scopes, ids[1])
    assert [m["id"] for m in replayed] == ids[2:]
    assert [m["payload"]["i"] for m in replayed] == [2, 3, 4, 5]
    assert [m["id"] for m in await events.replay(redis, scopes, ids[1], limit=2)] == ids[2:4]
    assert await events.replay(redis, scopes, ids[-1]) == []


async def test_replay_of_trimmed_stream_is_incomplete(
    publish: Publish, redis: Redis, isolated_seq: str
) -> None:
    org = uuid.uuid4()
    for _ in range(150):
        await publish(organization_id=org, maxlen=10)
    scopes = [events.org_scope(org)]
    trimmed = await events.read_since(redis, scopes, "1", maxlen=10)
    assert not trimmed.complete and trimmed.head == 150
    recent = await events.read_since(redis, scopes, "140", maxlen=10)
    assert recent.complete and [e.id for e in recent.events] == list(range(141, 151))
    too_many = await events.read_since(redis, scopes, "140", limit=5, maxlen=10)
    assert not too_many.complete and len(too_many.events) == 5


async def test_replay_from_unknown_id_is_incomplete_or_refused(
    publish: Publish, redis: Redis, isolated_seq: str
) -> None:
    org = uuid.uuid4()
    await publish(organization_id=org)
    future = await events.read_since(redis, [events.org_scope(org)], "99")
    assert not future.complete and future.events == []
    for bad in ("abc", "-1", "1.5"):
        with pytest.raises(ValueError):
            await events.read_since(redis, [events.org_scope(org)], bad)


# -- hub ---------------------------------------------------------------------------------------


async def test_subscribe_delivers_only_its_scopes_in_order(
    make_hub: MakeHub, publish: Publish
) -> None:
    hub = await make_hub()
    org, user, stranger = uuid.uuid4(), uuid.uuid4(), uuid.uuid4()
    subscription = await hub.subscribe([events.org_scope(org), events.user_scope(user)])
    assert subscription.start_id == "0"
    await publish(user_id=stranger)
    expected = [
        await publish(organization_id=org),
        await publish(user_id=user),
        await publish(organization_id=org, user_id=user),
    ]
    assert [str(i) for i in await next_ids(subscription, 3)] == expected
    assert subscription._queue.empty()
    hub.unsubscribe(subscription)
    assert hub.subscriber_count == 0 and hub._by_scope == {}


async def test_subscribe_after_id_replays_then_live_without_gap_or_duplicate(
    make_hub: MakeHub, publish: Publish
) -> None:
    """Events are published continuously while the subscriber replays: ids 1..N are all
    in the same scope, so a correct stream is exactly after+1..N."""
    hub = await make_hub(EVENT_SUBSCRIBER_QUEUE_SIZE=1000)
    org = uuid.uuid4()
    total = 300

    async def publisher() -> None:
        for _ in range(total):
            await publish(organization_id=org)

    task = asyncio.create_task(publisher())
    await wait_for(lambda: hub.stats.connects > 0)
    while int(await events.current_id(hub.redis)) < 40:  # noqa: ASYNC110
        await asyncio.sleep(0.001)
    subscription = await hub.subscribe([events.org_scope(org)], after_id="20")
    assert subscription.start_id == "20"
    ids = await next_ids(subscription, total - 20)
    await task
    assert ids == list(range(21, total + 1))


async def test_subscribe_with_invalid_after_id_starts_with_resync(
    make_hub: MakeHub, publish: Publish
) -> None:
    hub = await make_hub()
    org = uuid.uuid4()
    await publish(organization_id=org)
    for bad in ("nope", "12345"):  # malformed; newer than anything published
        head = await events.current_id(hub.redis)
        subscription = await hub.subscribe([events.org_scope(org)], after_id=bad)
        assert isinstance(await next_item(subscription), Resync)
        assert subscription.start_id == head
        live = await publish(organization_id=org)
        item = await next_item(subscription)
        assert isinstance(item, Event) and str(item.id) == live
        hub.unsubscribe(subscription)


async def test_hub_overflow_drops_only_the_slow_subscriber(
    make_hub: MakeHub, publish: Publish
) -> None:
    hub = await make_hub(EVENT_SUBSCRIBER_QUEUE_SIZE=3)
    org = uuid.uuid4()
    slow = await hub.subscribe([events.org_scope(org)])
    fast = await hub.subscribe([events.org_scope(org)])
    received: list[int] = []
    for _ in range(10):
        await publish(organization_id=org)
        received.extend(await next_ids(fast, 1))
    assert received == list(range(1, 11))
    assert slow.overflowed and slow.closed and hub.stats.overflows == 1
    with pytest.raises(SubscriptionClosed) as closed:
        await next_item(slow)
    assert closed.value.overflow
    assert hub.subscriber_count == 1 and not fast.closed


async def test_hub_reconnect_after_connection_kill_replays_missed_events(
    make_hub: MakeHub, publish: Publish, redis: Redis
) -> None:
    hub = await make_hub(
        EVENT_SUBSCRIBER_QUEUE_SIZE=1000,
        EVENT_HUB_RECONNECT_MIN_SECONDS=0.4,
        EVENT_HUB_RECONNECT_MAX_SECONDS=0.4,
    )
    org = uuid.uuid4()
    subscription = await hub.subscribe([events.org_scope(org)])
    assert await next_ids(subscription, 0) == []
    await publish(organization_id=org)
    await kill_pubsub_connection(redis, hub)
    await wait_for(lambda: hub.stats.disconnects == 1)
    assert not hub.connected
    for _ in range(3):  # published while the hub is away (it waits 0.2-0.4 s to reconnect)
        await publish(organization_id=org)
    await wait_for(lambda: hub.connected)
    await publish(organization_id=org)
    assert await next_ids(subscription, 5) == [1, 2, 3, 4, 5]
    assert hub.stats.connects == 2


async def test_hub_reconnect_under_load_loses_and_repeats_nothing(
    make_hub: MakeHub, publish: Publish, redis: Redis
) -> None:
    hub = await make_hub(EVENT_SUBSCRIBER_QUEUE_SIZE=2000)
    org = uuid.uuid4()
    subscription = await hub.subscribe([events.org_scope(org)])
    total = 400

    async def publisher() -> None:
        for _ in range(total):
            await publish(organization_id=org)

    task = asyncio.create_task(publisher())
    for kills in range(1, 4):
        await asyncio.sleep(0.02)
        await kill_pubsub_connection(redis, hub)
        await wait_for(lambda kills=kills: hub.stats.connects == kills + 1)
    await task
    assert await next_ids(subscription, total) == list(range(1, total + 1))
    assert hub.stats.disconnects == 3


async def test_hub_reconnect_with_trimmed_backlog_sends_resync(
    make_hub: MakeHub, publish: Publish, redis: Redis
) -> None:
    hub = await make_hub(
        EVENT_STREAM_MAXLEN=10,
        EVENT_HUB_RECONNECT_MIN_SECONDS=1.0,
        EVENT_HUB_RECONNECT_MAX_SECONDS=1.0,
    )
    org = uuid.uuid4()
    subscription = await hub.subscribe([events.org_scope(org)])
    await kill_pubsub_connection(redis, hub)
    await wait_for(lambda: hub.stats.disconnects == 1)
    for _ in range(150):  # far more than the stream keeps
        await publish(organization_id=org, maxlen=10)
    await wait_for(lambda: hub.connected)
    assert isinstance(await next_item(subscription), Resync)
    live = await publish(organization_id=org, maxlen=10)
    item = await next_item(subscription)
    assert isinstance(item, Event) and str(item.id) == live


async def test_hub_keepalive_pings_idle_connection_without_reconnecting(
    make_hub: MakeHub, publish: Publish, monkeypatch: pytest.MonkeyPatch
) -> None:
    pings = 0
    original_ping = PubSub.ping

    def counting_ping(self: PubSub, message: object = None) -> Awaitable[bool]:
        nonlocal pings
        pings += 1
        return original_ping(self, message)

    monkeypatch.setattr(PubSub, "ping", counting_ping)
    hub = await make_hub(EVENT_HUB_KEEPALIVE_SECONDS=0.1, EVENT_HUB_KEEPALIVE_TIMEOUT_SECONDS=0.5)
    org = uuid.uuid4()
    subscription = await hub.subscribe([events.org_scope(org)])
    await asyncio.sleep(1.5)  # idle: answered pings keep the connection
    assert pings >= 3
    assert hub.connected and hub.stats.disconnects == 0
    event_id = await publish(organization_id=org)
    assert await next_ids(subscription, 1) == [int(event_id)]


async def test_hub_keepalive_reconnects_when_pings_go_unanswered(
    make_hub: MakeHub, publish: Publish, monkeypatch: pytest.MonkeyPatch
) -> None:
    async def lost_ping(self: PubSub, message: object = None) -> None:
        return None  # a half-open connection: nothing ever answers

    monkeypatch.setattr(PubSub, "ping", lost_ping)
    hub = await make_hub(EVENT_HUB_KEEPALIVE_SECONDS=0.1, EVENT_HUB_KEEPALIVE_TIMEOUT_SECONDS=0.3)
    org = uuid.uuid4()
    subscription = await hub.subscribe([events.org_scope(org)])
    await wait_for(lambda: hub.stats.disconnects >= 1)
    event_id = await publish(organization_id=org)
    assert await next_ids(subscription, 1) == [int(event_id)]


async def test_hub_stop_closes_subscriptions(make_hub: MakeHub) -> None:
    hub = await make_hub()
    subscription = await hub.subscribe([events.user_scope(uuid.uuid4())])
    await hub.stop()
    assert subscription.closed and not subscription.overflowed
    assert [item async for item in subscription] == []
    assert not hub.connected and hub.subscriber_count == 0
