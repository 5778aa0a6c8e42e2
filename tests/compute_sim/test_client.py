"""ComputeClient error classification, webhook signatures and the event encoding."""

from __future__ import annotations

import socket
from datetime import UTC, datetime

import httpx
import pytest

from core.compute import (
    ComputeClient,
    ComputeError,
    TaskEvent,
    TaskState,
    sign_webhook,
    verify_webhook,
)
from tests.compute_sim.support import key, new_task


def _client(handler: httpx.MockTransport) -> ComputeClient:
    return ComputeClient("http://compute.test/api/v1", "token", transport=handler)


@pytest.mark.parametrize(
    ("status_code", "retryable"),
    [
        (400, False),
        (401, False),
        (403, False),
        (404, False),
        (409, False),
        (422, False),
        (408, True),
        (429, True),
        (500, True),
        (502, True),
        (503, True),
    ],
)
async def test_get_task_error_status_classified(status_code: int, retryable: bool) -> None:
    seen: list[httpx.Request] = []

    def answer(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return httpx.Response(status_code, json={"detail": "nope"}, headers={"Retry-After": "3"})

    client = _client(httpx.MockTransport(answer))
    with pytest.raises(ComputeError) as caught:
        await client.get_task("t-1")
    await client.aclose()

    assert (caught.value.status_code, caught.value.retryable) == (status_code, retryable)
    assert "nope" in caught.value.message
    assert caught.value.retry_after == 3.0
    assert str(seen[0].url) == "http://compute.test/api/v1/tasks/t-1"
    assert seen[0].headers["Authorization"] == "Bearer token"


@pytest.mark.parametrize(
    "error",
    [httpx.ReadTimeout("slow"), httpx.ConnectTimeout("slow"), httpx.RemoteProtocolError("x")],
)
async def test_get_task_transport_error_retryable(error: httpx.HTTPError) -> None:
    def fail(request: httpx.Request) -> httpx.Response:
        raise error

    client = _client(httpx.MockTransport(fail))
    with pytest.raises(ComputeError) as caught:
        await client.get_task("t-1")
    await client.aclose()

    assert (caught.value.status_code, caught.value.retryable) == (None, True)


async def test_get_task_contract_violation_not_retryable() -> None:
    client = _client(httpx.MockTransport(lambda r: httpx.Response(200, json={"weird": 1})))
    with pytest.raises(ComputeError) as caught:
        await client.get_task("t-1")
    await client.aclose()

    assert (caught.value.status_code, caught.value.retryable) == (200, False)


async def test_create_task_sends_idempotency_key_and_omits_empty_sim() -> None:
    seen: list[httpx.Request] = []

    def answer(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return httpx.Response(201, json={"id": "t-1", "status": "pending", "extra": True})

    client = _client(httpx.MockTransport(answer))
    ref = await client.create_task(new_task(), idempotency_key="k-1")
    await client.aclose()

    assert (ref.id, ref.status) == ("t-1", "pending")
    assert seen[0].headers["Idempotency-Key"] == "k-1"
    assert b'"sim"' not in seen[0].content


async def test_create_task_connection_refused_retryable() -> None:
    with socket.socket() as sock:  # a port that was free a moment ago: nobody listens
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    client = ComputeClient(f"http://127.0.0.1:{port}", "token", timeout=2)

    with pytest.raises(ComputeError) as caught:
        await client.create_task(new_task(), idempotency_key=key())
    healthy = await client.health()
    await client.aclose()

    assert (caught.value.status_code, caught.value.retryable) == (None, True)
    assert healthy is False


def test_task_state_progress_percentages_read_as_fractions() -> None:
    assert TaskState(id="t", status="running", progress=65).progress == 0.65
    assert TaskState(id="t", status="running", progress=0.65).progress == 0.65


def test_verify_webhook_accepts_only_the_signed_body() -> None:
    body = b'{"task_id":"t-1","event_type":"task.completed"}'
    signature = sign_webhook("s3cret", body)

    assert signature.startswith("sha256=") and len(signature) == 7 + 64
    assert verify_webhook("s3cret", body, signature)
    assert verify_webhook("s3cret", body, signature.upper().replace("SHA256=", "sha256="))
    assert not verify_webhook("s3cret", body + b" ", signature)
    assert not verify_webhook("other", body, signature)
    assert not verify_webhook("s3cret", body, signature.removeprefix("sha256="))
    assert not verify_webhook("s3cret", body, None)
    assert not verify_webhook("s3cret", body, "sha256=é")


def test_task_event_stream_fields_round_trip() -> None:
    event = TaskEvent(
        event_type="task.progress",
        task_id="t-1",
        status="running",
        task_type="generation",
        entity_id="g-1",
        progress=0.5,
        timestamp=datetime(2025, 1, 2, 3, 4, 5, tzinfo=UTC),
        seq=3,
    )

    fields = event.to_stream_fields()
    as_bytes = {k.encode(): v.encode() for k, v in fields.items()} | {b"error_message": b""}

    assert fields == {
        "event_type": "task.progress",
        "task_id": "t-1",
        "status": "running",
        "task_type": "generation",
        "entity_id": "g-1",
        "progress": "0.5",
        "timestamp": "2025-01-02T03:04:05+00:00",
        "seq": "3",
    }
    assert TaskEvent.from_fields(as_bytes) == event
