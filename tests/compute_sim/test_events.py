"""Events in the Redis stream and on the webhook, with the drop/duplicate/reorder knobs."""

from __future__ import annotations

import asyncio
import json

from redis.asyncio import Redis

from compute_sim import ComputeSimServer
from core.compute import WEBHOOK_SIGNATURE_HEADER, ComputeClient, TaskEvent, verify_webhook
from core.config import Settings
from tests.compute_sim.support import (
    WebhookReceiver,
    has,
    key,
    new_task,
    task_events,
    wait_events,
    wait_finished,
)


async def test_events_stream_in_lifecycle_order_with_entity_id(
    compute: ComputeClient, redis: Redis, stream: str
) -> None:
    task = new_task()

    ref = await compute.create_task(task, idempotency_key=key())
    events = await wait_events(redis, stream, ref.id, has("task.completed"))

    assert [e.event_type for e in events] == [
        "task.started",
        "task.progress",
        "task.progress",
        "task.progress",
        "task.completed",
    ]
    assert [e.seq for e in events] == [1, 2, 3, 4, 5]
    assert {(e.entity_id, e.task_type) for e in events} == {(task.entity_id, "generation")}
    assert [e.status for e in events] == ["running"] * 4 + ["completed"]
    progress = [e.progress for e in events]
    assert progress == sorted(progress) and progress[0] == 0.0 and progress[-1] == 1.0
    assert all(e.error_message is None and e.error_category is None for e in events)


async def test_events_stream_fields_are_strings_without_nulls(
    compute: ComputeClient, redis: Redis, stream: str
) -> None:
    ref = await compute.create_task(new_task(), idempotency_key=key())
    await wait_events(redis, stream, ref.id, has("task.completed"))

    entries = await redis.xrange(stream)
    mine = [fields for _, fields in entries if fields.get("task_id") == ref.id]

    assert mine[0].keys() == {
        "event_type",
        "task_id",
        "status",
        "task_type",
        "entity_id",
        "progress",
        "timestamp",
        "seq",
    }
    assert mine[-1]["progress"] == "1.0"
    TaskEvent.from_fields(mine[-1])  # the timestamp is ISO 8601


async def test_events_drop_knob_loses_events_but_task_completes(
    compute: ComputeClient, redis: Redis, stream: str
) -> None:
    ref = await compute.create_task(new_task(sim={"drop_events": True}), idempotency_key=key())
    state = await wait_finished(compute, ref.id)
    # The marker task is created after the dropped one finished; once its events are in,
    # any event of the first task would have been too (both go through the same server).
    marker = await compute.create_task(new_task(sim={"latency_ms": 0}), idempotency_key=key())
    await wait_events(redis, stream, marker.id, has("task.completed"))
    await asyncio.sleep(0.05)

    assert state.status == "completed"
    assert await task_events(redis, stream, ref.id) == []


async def test_events_duplicate_knob_sends_each_event_twice(
    compute: ComputeClient, redis: Redis, stream: str
) -> None:
    task = new_task(sim={"duplicate_events": True, "progress_steps": 1})

    ref = await compute.create_task(task, idempotency_key=key())
    events = await wait_events(redis, stream, ref.id, has("task.completed", 2))

    assert [(e.event_type, e.seq) for e in events] == [
        ("task.started", 1),
        ("task.started", 1),
        ("task.progress", 2),
        ("task.progress", 2),
        ("task.completed", 3),
        ("task.completed", 3),
    ]


async def test_events_reorder_knob_swaps_events(
    compute: ComputeClient, redis: Redis, stream: str
) -> None:
    task = new_task(sim={"reorder_events": True, "progress_steps": 2})

    ref = await compute.create_task(task, idempotency_key=key())
    events = await wait_events(redis, stream, ref.id, lambda found: len(found) == 4)

    # Pairs swap and the terminal event overtakes the held progress: stale after final.
    assert [e.seq for e in events] == [2, 1, 4, 3]
    assert [e.event_type for e in events] == [
        "task.progress",
        "task.started",
        "task.completed",
        "task.progress",
    ]


async def test_events_server_wide_knobs_apply_to_new_tasks(
    compute: ComputeClient, knobs: ComputeSimServer, redis: Redis, stream: str
) -> None:
    knobs.set_config(duplicate_event_rate=1.0, progress_steps=0)

    ref = await compute.create_task(new_task(), idempotency_key=key())
    events = await wait_events(redis, stream, ref.id, has("task.completed", 2))

    assert [e.event_type for e in events] == ["task.started"] * 2 + ["task.completed"] * 2


async def test_events_seeded_task_drops_the_same_events(
    compute: ComputeClient, redis: Redis, stream: str
) -> None:
    async def surviving() -> list[int | None]:
        task = new_task(
            inputs={"prompt": "p", "seed": 7},
            sim={"drop_events": 0.5, "progress_steps": 10, "latency_ms": 0},
        )
        ref = await compute.create_task(task, idempotency_key=key())
        await wait_finished(compute, ref.id)
        marker = await compute.create_task(new_task(sim={"latency_ms": 0}), idempotency_key=key())
        await wait_events(redis, stream, marker.id, has("task.completed"))
        return [e.seq for e in await task_events(redis, stream, ref.id)]

    first, second = await surviving(), await surviving()

    assert first == second
    assert 0 < len(first) < 12


async def test_webhook_delivers_signed_events(
    compute: ComputeClient, knobs: ComputeSimServer, sim_settings: Settings
) -> None:
    secret = sim_settings.COMPUTE_WEBHOOK_SECRET
    with WebhookReceiver() as receiver:
        knobs.set_config(webhook_url=receiver.url)
        ref = await compute.create_task(new_task(), idempotency_key=key())

        def completed(deliveries: list) -> bool:
            return any(
                json.loads(d.body)["task_id"] == ref.id
                and json.loads(d.body)["event_type"] == "task.completed"
                for d in deliveries
            )

        deliveries = await receiver.wait_for(completed)

    mine = [d for d in deliveries if json.loads(d.body)["task_id"] == ref.id]
    assert json.loads(mine[0].body)["event_type"] == "task.started"
    for delivery in mine:
        signature = delivery.headers[WEBHOOK_SIGNATURE_HEADER]
        assert signature.startswith("sha256=")
        assert verify_webhook(secret, delivery.body, signature)
        assert TaskEvent.model_validate_json(delivery.body).task_id == ref.id
    last = mine[-1]
    tampered = last.body.replace(b'"completed"', b'"failed"')
    assert not verify_webhook(secret, tampered, last.headers[WEBHOOK_SIGNATURE_HEADER])
    assert not verify_webhook("another-secret", last.body, last.headers[WEBHOOK_SIGNATURE_HEADER])


async def test_webhook_unreachable_does_not_fail_tasks(
    compute: ComputeClient, knobs: ComputeSimServer, redis: Redis, stream: str
) -> None:
    knobs.set_config(webhook_url="http://127.0.0.1:1/webhook", webhook_timeout_s=1.0)

    ref = await compute.create_task(new_task(), idempotency_key=key())
    state = await wait_finished(compute, ref.id)

    assert state.status == "completed"
    assert (await wait_events(redis, stream, ref.id, has("task.completed")))[-1].seq == 5
