"""The compute-event path: stream bridge and webhook → workflow signals."""

from __future__ import annotations

import asyncio
import json
import uuid

import pytest
from redis.asyncio import Redis
from temporalio.client import Client

from core.compute import WEBHOOK_SIGNATURE_HEADER, sign_webhook
from core.compute_events import ComputeEventBridge, parse, to_signal, workflow_id_for
from core.config import Settings
from core.temporal import connect
from tests.helpers import Api


@pytest.mark.parametrize(
    ("fields", "expected"),
    [
        ({"task_type": "generation", "entity_id": "g1"}, "generation-g1"),
        ({"task_type": "evaluation", "entity_id": "g1"}, "generation-g1"),
        ({"task_type": "caption", "entity_id": "m1"}, "caption-m1"),
        ({"task_type": "training", "entity_id": "x"}, None),
        ({"task_type": "generation"}, None),
    ],
)
def test_workflow_id_for_maps_task_types(fields: dict, expected: str | None) -> None:
    event = parse({"event_type": "task.progress", "task_id": "t", **fields})
    assert workflow_id_for(event) == expected


def test_to_signal_accepts_percentages_and_blanks() -> None:
    signal = to_signal(
        {"task_id": "t", "event_type": "task.progress", "progress": "65", "status": ""}
    )
    assert signal.progress == pytest.approx(0.65)
    assert signal.status is None


async def test_bridge_acknowledges_events_of_unknown_workflows(settings: Settings) -> None:
    redis = Redis.from_url(settings.REDIS_URL, socket_timeout=10)
    client: Client = await connect(settings)
    stream = f"compute:events:bridge-{uuid.uuid4().hex[:8]}"
    bridge = ComputeEventBridge(
        redis=redis, client=client, stream=stream, group="test-bridge", block_ms=100
    )
    try:
        await bridge.ensure_group()
        for _ in range(3):
            await redis.xadd(
                stream,
                {
                    "event_type": "task.completed",
                    "task_id": "t-1",
                    "task_type": "generation",
                    "entity_id": str(uuid.uuid4()),
                    "status": "completed",
                },
            )
        task = asyncio.create_task(bridge.run())
        for _ in range(300):  # up to 15 s
            if bridge.delivered >= 3:
                break
            await asyncio.sleep(0.05)
        assert bridge.delivered == 3
        pending = await redis.xpending(stream, "test-bridge")
        assert pending["pending"] == 0
        bridge.stop()
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)
    finally:
        await redis.delete(stream)
        await redis.aclose()


async def test_webhook_refuses_a_bad_signature(api: Api, settings: Settings) -> None:
    body = json.dumps({"event_type": "task.completed", "task_id": "t"}).encode()
    r = await api.post(
        "/tasks/webhook",
        content=body,
        headers={
            WEBHOOK_SIGNATURE_HEADER: "sha256=" + "0" * 64,
            "content-type": "application/json",
        },
    )
    assert r.status_code == 401


async def test_webhook_accepts_a_signed_event(api: Api, settings: Settings) -> None:
    body = json.dumps(
        {
            "event_type": "task.completed",
            "task_id": "t",
            "task_type": "generation",
            "entity_id": str(uuid.uuid4()),
        }
    ).encode()
    signature = sign_webhook(settings.COMPUTE_WEBHOOK_SECRET, body)
    r = await api.post(
        "/tasks/webhook",
        content=body,
        headers={WEBHOOK_SIGNATURE_HEADER: signature, "content-type": "application/json"},
    )
    assert r.status_code == 200, r.text
