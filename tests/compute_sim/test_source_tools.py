"""compute_sim's image tools (compute_sim/transform.py): a task of a strategy with a source
image downloads `source_image.url` and transforms it visibly; without a readable source
it fails `invalid_input`. The pure transforms are checked without services."""

from __future__ import annotations

import asyncio
import io
from typing import Any

import httpx
import pytest
from PIL import Image, ImageStat

from compute_sim import transform
from compute_sim.inputs import Scene
from core.compute import ComputeClient
from core.config import Settings
from services import compute_request
from services.compute_request_parts import OutputPart, RequestParts, SourcePart
from tests.compute_sim.support import key, new_task, wait_finished

GREY = (90, 90, 90)


def _source(size: tuple[int, int] = (96, 128)) -> Image.Image:
    image = Image.new("RGB", size, (30, 60, 200))
    # A "figure" in the middle, another colour than the background.
    image.paste((220, 180, 40), (size[0] // 3, size[1] // 4, 2 * size[0] // 3, size[1] - 20))
    return image


def _run(strategy: str, size: tuple[int, int] = (96, 128), **kwargs: Any) -> Image.Image:
    data = transform.transform_source(
        _source(),
        strategy=strategy,
        width=size[0],
        height=size[1],
        fmt="png",
        seed=7,
        prompt=kwargs.pop("prompt", ""),
        **kwargs,
    )
    return Image.open(io.BytesIO(data)).convert("RGB")


def test_refine_resizes_to_the_output() -> None:
    assert _run("REFINE", (192, 256)).size == (192, 256)


def test_background_fixing_floods_the_background_with_the_preset_colour() -> None:
    out = _run("BACKGROUND_FIXING", scene=Scene(background_colour=(16, 192, 64)))
    assert out.getpixel((1, 1)) == (16, 192, 64)
    assert out.getpixel((48, 64)) == (220, 180, 40)  # the figure stays
    assert _run("BACKGROUND_FIXING").getpixel((1, 1)) == transform.STUDIO_WHITE


def test_face_fixing_outlines_the_face_box() -> None:
    out = _run("FACE_FIXING")
    left, top, right, _bottom = transform.face_box(96, 128)
    assert out.getpixel(((left + right) // 2, top + 1)) == transform.FACE_MARK


def test_image_adjusting_brightens() -> None:
    box = (0, 0, 96, 90)
    before = ImageStat.Stat(_source().crop(box).convert("L")).mean[0]
    after = ImageStat.Stat(_run("IMAGE_ADJUSTING").crop(box).convert("L")).mean[0]
    assert after > before + 15


def test_editing_shades_a_caption_band_over_the_top() -> None:
    out = _run("EDITING", prompt="make it red")
    assert sum(out.getpixel((90, 2))) < sum((30, 60, 200)) - 60


def test_the_builder_sends_the_source_and_the_factor() -> None:
    parts = RequestParts(
        strategy="REFINE",
        output=OutputPart(width=256, height=320, format="jpg"),
        source=SourcePart(key="media/m/file.jpg", media_id="m", prediction_id="p"),
        upscale=2,
    )
    inputs = compute_request.build(parts)
    assert inputs["source_image"] == {"prediction_id": "p", "key": "media/m/file.jpg"}
    assert inputs["upscale"] == 2
    sent = compute_request.with_urls(inputs, lambda k: f"https://s3/{k}?sig")
    assert sent["source_image"] == {"prediction_id": "p", "url": "https://s3/media/m/file.jpg?sig"}
    media_only = compute_request.build(
        RequestParts(
            strategy="EDITING",
            output=OutputPart(width=64, height=64, format="jpg"),
            source=SourcePart(key="media/m/file.jpg", media_id="m"),
        )
    )
    assert media_only["source_image"] == {"media_id": "m", "key": "media/m/file.jpg"}
    assert "upscale" not in media_only
    bare = compute_request.build(
        RequestParts(strategy="GENERATE", output=OutputPart(width=64, height=64, format="jpg"))
    )
    assert "source_image" not in bare


async def test_a_task_transforms_its_downloaded_source(
    compute: ComputeClient, s3: Any, sim_settings: Settings
) -> None:
    buffer = io.BytesIO()
    _source().save(buffer, "PNG")
    source_key = f"tests/compute_sim/{key()}.png"
    bucket = sim_settings.R2_BUCKET_NAME
    await asyncio.to_thread(s3.put_object, Bucket=bucket, Key=source_key, Body=buffer.getvalue())
    url = s3.generate_presigned_url("get_object", Params={"Bucket": bucket, "Key": source_key})
    task = new_task(
        inputs={"strategy": "REFINE", "upscale": 2, "source_image": {"media_id": "m", "url": url}},
        output={"width": 192, "height": 256, "format": "png"},
    )
    ref = await compute.create_task(task, idempotency_key=key())
    assert (await wait_finished(compute, ref.id)).status == "completed"
    result = await compute.get_result(ref.id)
    async with httpx.AsyncClient(timeout=10) as client:
        data = (await client.get(result.output.images[0].url)).content
    with Image.open(io.BytesIO(data)) as picture:
        assert picture.size == (192, 256)
        # The source's blue background, upscaled: not a fresh render.
        pixel = picture.convert("RGB").getpixel((2, 2))
    assert all(abs(a - b) <= 8 for a, b in zip(pixel, (30, 60, 200), strict=True)), pixel


@pytest.mark.parametrize("source", [None, {"media_id": "m", "url": "http://127.0.0.1:1/x.png"}])
async def test_a_source_strategy_without_a_readable_source_fails(
    compute: ComputeClient, source: dict[str, str] | None
) -> None:
    inputs: dict[str, Any] = {"strategy": "FACE_FIXING"}
    if source is not None:
        inputs["source_image"] = source
    ref = await compute.create_task(new_task(inputs=inputs), idempotency_key=key())
    state = await wait_finished(compute, ref.id)
    assert (state.status, state.error_category) == ("failed", "invalid_input")
    assert "source_image" in (state.error_message or "")
