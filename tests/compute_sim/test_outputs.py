"""Caption and evaluation tasks: text from the pixels, scores deterministic or scripted."""

from __future__ import annotations

import asyncio
import io
from typing import Any

import pytest
from PIL import Image

from core.compute import ComputeClient, ComputeError
from core.config import Settings
from tests.compute_sim.support import key, new_task, wait_finished


async def _upload(s3: Any, settings: Settings, image: Image.Image) -> str:
    buffer = io.BytesIO()
    image.save(buffer, "PNG")
    object_key = f"tests/compute_sim/{key()}.png"
    await asyncio.to_thread(
        s3.put_object, Bucket=settings.R2_BUCKET_NAME, Key=object_key, Body=buffer.getvalue()
    )
    return s3.generate_presigned_url(
        "get_object", Params={"Bucket": settings.R2_BUCKET_NAME, "Key": object_key}
    )


async def test_create_task_caption_describes_image(
    compute: ComputeClient, s3: Any, sim_settings: Settings
) -> None:
    url = await _upload(s3, sim_settings, Image.new("RGB", (600, 900), (200, 25, 30)))
    task = new_task(type="caption", inputs={"image_url": url})

    ref = await compute.create_task(task, idempotency_key=key())
    state = await wait_finished(compute, ref.id)
    result = await compute.get_result(ref.id)

    assert state.status == "completed"
    text = result.output.text or ""
    assert text.startswith("A portrait photo (600x900) with dominant warm red tones"), text
    assert (result.output.images, result.output.score) == ([], None)


async def test_create_task_caption_unreachable_image_fails(compute: ComputeClient) -> None:
    task = new_task(type="caption", inputs={"image_url": "http://127.0.0.1:1/missing.png"})

    ref = await compute.create_task(task, idempotency_key=key())
    state = await wait_finished(compute, ref.id)

    assert (state.status, state.error_category) == ("failed", "invalid_input")


async def test_create_task_caption_without_image_url_422(compute: ComputeClient) -> None:
    with pytest.raises(ComputeError) as caught:
        await compute.create_task(new_task(type="caption", inputs={}), idempotency_key=key())

    assert (caught.value.status_code, caught.value.retryable) == (422, False)


async def test_create_task_evaluation_score_deterministic_per_image(
    compute: ComputeClient,
) -> None:
    async def score(urls: list[str]) -> float | None:
        task = new_task(type="evaluation", inputs={"image_urls": urls})
        ref = await compute.create_task(task, idempotency_key=key())
        await wait_finished(compute, ref.id)
        return (await compute.get_result(ref.id)).output.score

    signed_once = "http://store.example/sartiq/compute/t1/0.png?X-Amz-Signature=aaa"
    signed_again = "http://store.example/sartiq/compute/t1/0.png?X-Amz-Signature=bbb"
    other = "http://store.example/sartiq/compute/t2/0.png"

    first, second, third = (
        await score([signed_once]),
        await score([signed_again]),
        await score([other]),
    )

    assert first is not None and 0.0 <= first <= 1.0
    assert first == second  # the signature in the query does not change the image
    assert third != first


async def test_create_task_evaluation_scripted_scores(compute: ComputeClient) -> None:
    entity = f"gen-{key()}"

    async def evaluate(sim: dict[str, Any]) -> float | None:
        task = new_task(type="evaluation", entity_id=entity, inputs={}, sim=sim)
        ref = await compute.create_task(task, idempotency_key=key())
        await wait_finished(compute, ref.id)
        return (await compute.get_result(ref.id)).output.score

    scripted = [await evaluate({"scores": [0.2, 0.9]}) for _ in range(3)]
    fixed = await evaluate({"score": 0.3})

    assert scripted == [0.2, 0.9, 0.9]  # one per evaluation of the entity; the last repeats
    assert fixed == 0.3
