"""One validated parser for compute events: what breaks the contract is refused the same way
on both paths. On the Redis stream it is acknowledged, counted and logged once (never
reclaimed and retried); on `POST /tasks/webhook` it is a 422 naming the field, never a 500."""

from __future__ import annotations

import asyncio
import json
import logging
import uuid
from typing import Any

import pytest
from prometheus_client import REGISTRY
from redis.asyncio import Redis

from core.compute import WEBHOOK_SIGNATURE_HEADER, sign_webhook
from core.compute_events import ComputeEventBridge, to_signal
from core.config import Settings
from core.temporal import connect
from tests.helpers import Api

MALFORMED_METRIC = "sartiq_compute_event_bridge_malformed_total"


def _event(**changes: str) -> dict[str, str]:
    return {
        "event_type": "task.progress",
        "task_id": "t-1",
        "task_type": "generation",
        "entity_id": str(uuid.uuid4()),  # no such workflow: a valid event is skipped, acked
        "status": "running",
        "progress": "0.5",
        **changes,
    }


def _malformed_count() -> float:
    return REGISTRY.get_sample_value(MALFORMED_METRIC) or 0.0


@pytest.mark.parametrize(
    ("fields", "field"),
    [
        (_event(progress="abc"), "progress"),
        (_event(progress="-3"), "progress"),
        (_event(event_type="task.exploded"), "event_type"),
        ({k: v for k, v in _event().items() if k != "task_id"}, "task_id"),
        (_event(seq="first"), "seq"),
    ],
)
def test_parser_names_what_breaks_the_contract(fields: dict[str, str], field: str) -> None:
    with pytest.raises(ValueError, match=field):
        to_signal(fields)


def test_parser_keeps_percentages_and_blanks() -> None:
    signal = to_signal(_event(progress="65", status="", error_message=""))
    assert signal.progress == pytest.approx(0.65)
    assert signal.status is None and signal.error_message is None
    assert to_signal(_event(progress="1")).progress == 1.0


async def test_bridge_acks_counts_and_logs_a_malformed_entry_once(
    settings: Settings, caplog: pytest.LogCaptureFixture
) -> None:
    redis = Redis.from_url(settings.REDIS_URL, socket_timeout=10)
    client = await connect(settings)
    stream = f"compute:events:malformed-{uuid.uuid4().hex[:8]}"
    # A short idle time: an entry left unacknowledged would be reclaimed (and fail again)
    # several times within this test.
    bridge = ComputeEventBridge(
        redis=redis, client=client, stream=stream, group="g", block_ms=50, claim_idle_ms=200
    )
    before = _malformed_count()
    caplog.set_level(logging.WARNING, logger="sartiq.compute_events")
    try:
        await bridge.ensure_group()
        bad = await redis.xadd(stream, _event(progress="abc"))
        await redis.xadd(stream, _event())
        task = asyncio.create_task(bridge.run())
        pending = None
        for _ in range(100):  # up to 5 s
            pending = await redis.xpending(stream, "g")
            if bridge.delivered >= 1 and pending["pending"] == 0:
                break
            await asyncio.sleep(0.05)
        assert bridge.delivered == 1  # the valid entry after it went through
        assert pending is not None and pending["pending"] == 0, pending
        await asyncio.sleep(1.0)  # five claim periods: nothing comes back
        bridge.stop()
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)
    finally:
        await redis.delete(stream)
        await redis.aclose()
    assert _malformed_count() == before + 1
    warnings = [r for r in caplog.records if bad.decode() in r.getMessage()]
    assert len(warnings) == 1, [r.getMessage() for r in caplog.records]
    assert "progress" in warnings[0].getMessage()
    assert not [r for r in caplog.records if r.levelno >= logging.ERROR]


async def _signed_post(api: Api, settings: Settings, body: bytes) -> tuple[int, Any]:
    r = await api.post(
        "/tasks/webhook",
        content=body,
        headers={
            WEBHOOK_SIGNATURE_HEADER: sign_webhook(settings.COMPUTE_WEBHOOK_SECRET, body),
            "content-type": "application/json",
        },
    )
    return r.status_code, r.json()


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"progress": "abc"}, "progress"),
        ({"progress": [1]}, "progress"),
        ({"event_type": "task.exploded"}, "event_type"),
        ({"task_id": 7}, "task_id"),
    ],
)
async def test_webhook_refuses_a_malformed_event_with_422(
    api: Api, settings: Settings, change: dict, field: str
) -> None:
    status, body = await _signed_post(api, settings, json.dumps({**_event(), **change}).encode())
    assert status == 422, body
    assert field in json.dumps(body["detail"])


async def test_webhook_still_takes_numbers_and_percentages(api: Api, settings: Settings) -> None:
    for progress in (0.5, 65, "65"):
        status, body = await _signed_post(
            api, settings, json.dumps({**_event(), "progress": progress}).encode()
        )
        assert status == 200, body


@pytest.mark.parametrize(
    "signature", ["sha256=é".encode(), ("sha256=" + "ä" * 64).encode(), b"\xff\xfe"]
)
async def test_webhook_answers_401_to_a_non_ascii_signature(
    api: Api, settings: Settings, signature: bytes
) -> None:
    r = await api.post(
        "/tasks/webhook",
        content=json.dumps(_event()).encode(),
        # bytes: httpx would refuse a non-ASCII str; the server decodes them as latin-1
        headers={WEBHOOK_SIGNATURE_HEADER.encode(): signature, b"content-type": b"json"},
    )
    assert r.status_code == 401, r.text
