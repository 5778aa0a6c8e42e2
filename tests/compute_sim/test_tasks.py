"""Task lifecycle over HTTP through the real ComputeClient: create, poll, result, cancel."""

from __future__ import annotations

import asyncio
import hashlib
import io
from typing import Any

import httpx
import pytest
from PIL import Image
from redis.asyncio import Redis

from compute_sim import ComputeSimServer
from core.compute import ComputeClient, ComputeError
from core.config import Settings
from tests.compute_sim.support import has, key, new_task, wait_events, wait_finished

PIL_NAMES = {"jpg": "JPEG", "png": "PNG", "webp": "WEBP"}


async def _download(url: str) -> bytes:
    async with httpx.AsyncClient(timeout=10) as client:
        response = await client.get(url)
    assert response.status_code == 200, response.text
    return response.content


@pytest.mark.parametrize("fmt", ["jpg", "png", "webp"])
async def test_create_task_generation_renders_distinct_images_in_bucket(
    compute: ComputeClient, s3: Any, sim_settings: Settings, fmt: str
) -> None:
    task = new_task(num_outputs=3, output={"width": 160, "height": 120, "format": fmt})

    ref = await compute.create_task(task, idempotency_key=key())
    state = await wait_finished(compute, ref.id)
    result = await compute.get_result(ref.id)

    assert ref.status == "pending"
    assert (state.status, state.progress) == ("completed", 1.0)
    assert len(result.output.images) == 3
    digests = set()
    for index, image in enumerate(result.output.images):
        assert image.key == f"compute/{ref.id}/{index}.{fmt}"
        head = await asyncio.to_thread(
            s3.head_object, Bucket=sim_settings.R2_BUCKET_NAME, Key=image.key
        )
        assert head["ContentLength"] > 0
        data = await _download(image.url)
        with Image.open(io.BytesIO(data)) as picture:
            assert (picture.format, picture.size) == (PIL_NAMES[fmt], (160, 120))
        digests.add(hashlib.md5(data).hexdigest())
    assert len(digests) == 3
    assert len({image.seed for image in result.output.images}) == 3


async def test_create_task_generation_same_seed_reproduces_images(compute: ComputeClient) -> None:
    entity = "gen-reproducible"
    images = []
    for _ in range(2):
        task = new_task(entity_id=entity, inputs={"prompt": "red coat", "seed": 42}, num_outputs=2)
        ref = await compute.create_task(task, idempotency_key=key())
        await wait_finished(compute, ref.id)
        result = await compute.get_result(ref.id)
        assert [image.seed for image in result.output.images] == [42, 43]
        images.append([await _download(image.url) for image in result.output.images])

    assert images[0] == images[1]
    assert images[0][0] != images[0][1]


async def test_create_task_generation_pastes_reference_images(
    compute: ComputeClient, s3: Any, sim_settings: Settings
) -> None:
    buffer = io.BytesIO()
    Image.new("RGB", (200, 300), (20, 40, 220)).save(buffer, "PNG")
    ref_key = f"tests/compute_sim/{key()}.png"
    await asyncio.to_thread(
        s3.put_object, Bucket=sim_settings.R2_BUCKET_NAME, Key=ref_key, Body=buffer.getvalue()
    )
    good = s3.generate_presigned_url(
        "get_object", Params={"Bucket": sim_settings.R2_BUCKET_NAME, "Key": ref_key}
    )
    task = new_task(
        inputs={"prompt": "wear this", "input_image_urls": [good, "http://127.0.0.1:1/x.png"]},
        output={"width": 320, "height": 240, "format": "png"},
    )

    ref = await compute.create_task(task, idempotency_key=key())
    state = await wait_finished(compute, ref.id)
    result = await compute.get_result(ref.id)

    assert state.status == "completed"  # the unreachable reference is skipped, not fatal
    with Image.open(io.BytesIO(await _download(result.output.images[0].url))) as picture:
        # Thumbnails go top left, inside a margin of min(w, h) // 40 and a 2 px frame.
        pixel = picture.convert("RGB").getpixel((12, 12))
    assert all(abs(a - b) <= 8 for a, b in zip(pixel, (20, 40, 220), strict=True)), pixel


async def test_create_task_idempotency_key_returns_same_task(
    compute: ComputeClient, sim_server: ComputeSimServer, sim_settings: Settings
) -> None:
    idempotency_key = key()
    task = new_task()
    headers = {
        "Authorization": f"Bearer {sim_settings.COMPUTE_SERVER_ADMIN_TOKEN}",
        "Idempotency-Key": idempotency_key,
    }
    body = task.model_dump(mode="json", exclude_none=True)

    async with httpx.AsyncClient(base_url=str(sim_server.url)) as http:
        first = await http.post("/api/v1/tasks", json=body, headers=headers)
        second = await http.post("/api/v1/tasks/", json=body, headers=headers)
    third = await compute.create_task(task, idempotency_key=idempotency_key)

    assert (first.status_code, second.status_code) == (201, 200)
    assert first.json()["id"] == second.json()["id"] == third.id


async def test_create_task_without_idempotency_key_creates_new_tasks(
    sim_server: ComputeSimServer, sim_settings: Settings
) -> None:
    headers = {"Authorization": f"Bearer {sim_settings.COMPUTE_SERVER_ADMIN_TOKEN}"}
    body = new_task().model_dump(mode="json", exclude_none=True)

    async with httpx.AsyncClient(base_url=str(sim_server.url)) as http:
        first = await http.post("/api/v1/tasks", json=body, headers=headers)
        second = await http.post("/api/v1/tasks", json=body, headers=headers)

    assert (first.status_code, second.status_code) == (201, 201)
    assert first.json()["id"] != second.json()["id"]


async def test_create_task_bad_token_401(
    sim_server: ComputeSimServer, sim_settings: Settings
) -> None:
    wrong = ComputeClient(str(sim_server.url), "not-the-token")
    try:
        with pytest.raises(ComputeError) as caught:
            await wrong.create_task(new_task(), idempotency_key=key())
    finally:
        await wrong.aclose()
    async with httpx.AsyncClient(base_url=str(sim_server.url)) as http:
        anonymous = await http.get("/api/v1/tasks/whatever")

    assert (caught.value.status_code, caught.value.retryable) == (401, False)
    assert anonymous.status_code == 401


@pytest.mark.parametrize("call", ["get_task", "get_result", "cancel_task"])
async def test_get_task_unknown_id_404(compute: ComputeClient, call: str) -> None:
    with pytest.raises(ComputeError) as caught:
        await getattr(compute, call)("no-such-task")

    assert (caught.value.status_code, caught.value.retryable) == (404, False)


@pytest.mark.parametrize(
    "body",
    [
        {"type": "painting", "entity_id": "e1"},
        {"type": "generation"},
        {"type": "generation", "entity_id": "e1", "num_outputs": 0},
        {"type": "generation", "entity_id": "e1", "output": {"width": 100_000}},
        {"type": "generation", "entity_id": "e1", "output": {"format": "gif"}},
        {"type": "generation", "entity_id": "e1", "sim": {"unknown_knob": 1}},
        {"type": "caption", "entity_id": "e1", "inputs": {}},
    ],
)
async def test_create_task_bad_body_422(
    sim_server: ComputeSimServer, sim_settings: Settings, body: dict[str, Any]
) -> None:
    headers = {"Authorization": f"Bearer {sim_settings.COMPUTE_SERVER_ADMIN_TOKEN}"}
    async with httpx.AsyncClient(base_url=str(sim_server.url)) as http:
        response = await http.post("/api/v1/tasks", json=body, headers=headers)

    assert response.status_code == 422, response.text


async def test_get_result_unfinished_409(compute: ComputeClient) -> None:
    ref = await compute.create_task(new_task(sim={"stuck": True}), idempotency_key=key())
    try:
        with pytest.raises(ComputeError) as caught:
            await compute.get_result(ref.id)
    finally:
        await compute.cancel_task(ref.id)

    assert caught.value.status_code == 409


async def test_cancel_task_stuck_becomes_cancelled(
    compute: ComputeClient, redis: Redis, stream: str
) -> None:
    ref = await compute.create_task(new_task(sim={"stuck": True}), idempotency_key=key())
    await wait_events(redis, stream, ref.id, has("task.started"))
    running = await compute.get_task(ref.id)

    cancelled = await compute.cancel_task(ref.id)
    again = await compute.cancel_task(ref.id)
    events = await wait_events(redis, stream, ref.id, has("task.cancelled"))
    result = await compute.get_result(ref.id)

    assert running.status == "running"
    assert cancelled.status == again.status == "cancelled"
    assert [e.event_type for e in events] == ["task.started", "task.cancelled"]
    assert events[-1].status == "cancelled"
    assert (result.status, result.output.images) == ("cancelled", [])


async def test_cancel_task_finished_stays_completed(compute: ComputeClient) -> None:
    ref = await compute.create_task(new_task(), idempotency_key=key())
    await wait_finished(compute, ref.id)

    state = await compute.cancel_task(ref.id)

    assert state.status == "completed"
    assert len((await compute.get_result(ref.id)).output.images) == 1


async def test_create_task_fail_knob_fails_with_error_fields(
    compute: ComputeClient, redis: Redis, stream: str
) -> None:
    task = new_task(sim={"fail": "NSFW content detected", "error_category": "content_policy"})

    ref = await compute.create_task(task, idempotency_key=key())
    state = await wait_finished(compute, ref.id)
    events = await wait_events(redis, stream, ref.id, has("task.failed"))
    result = await compute.get_result(ref.id)

    assert (state.status, state.error_message, state.error_category) == (
        "failed",
        "NSFW content detected",
        "content_policy",
    )
    failed = events[-1]
    assert (failed.event_type, failed.status) == ("task.failed", "failed")
    assert (failed.error_message, failed.error_category) == (
        "NSFW content detected",
        "content_policy",
    )
    assert (result.status, result.output.images) == ("failed", [])


async def test_create_task_failure_rate_fails_every_task(
    compute: ComputeClient, knobs: ComputeSimServer
) -> None:
    knobs.set_config(failure_rate=1.0)

    ref = await compute.create_task(new_task(), idempotency_key=key())
    saved = await compute.create_task(new_task(sim={"fail": False}), idempotency_key=key())
    state = await wait_finished(compute, ref.id)

    assert (state.status, state.error_category) == ("failed", "provider_error")
    assert state.error_message
    assert (await wait_finished(compute, saved.id)).status == "completed"  # per task wins


async def test_create_task_stuck_rate_keeps_running(
    compute: ComputeClient, knobs: ComputeSimServer, redis: Redis, stream: str
) -> None:
    knobs.set_config(stuck_rate=1.0, latency_ms=0)

    ref = await compute.create_task(new_task(), idempotency_key=key())
    await wait_events(redis, stream, ref.id, has("task.started"))
    await asyncio.sleep(0.2)  # a normal task with latency 0 would be long done
    state = await compute.get_task(ref.id)
    await compute.cancel_task(ref.id)

    assert state.status == "running"


async def test_health_answers_without_auth(compute: ComputeClient) -> None:
    assert await compute.health() is True


async def test_create_task_many_concurrent_all_complete(
    compute: ComputeClient, redis: Redis, stream: str
) -> None:
    tasks = [new_task(sim={"latency_ms": 20}) for _ in range(40)]

    refs = await asyncio.gather(*(compute.create_task(t, idempotency_key=key()) for t in tasks))
    states = await asyncio.gather(*(wait_finished(compute, ref.id) for ref in refs))
    finals = await asyncio.gather(
        *(wait_events(redis, stream, ref.id, has("task.completed")) for ref in refs)
    )

    assert len({ref.id for ref in refs}) == 40
    assert {state.status for state in states} == {"completed"}
    assert [events[-1].entity_id for events in finals] == [t.entity_id for t in tasks]
