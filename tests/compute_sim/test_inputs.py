"""compute_sim shows what it was given: GET /tasks/{id} answers the inputs as received, and
the render paints the background preset's colour, pastes the components' images and names
the background, the number of references and the outfit's items."""

from __future__ import annotations

import asyncio
import io
from typing import Any

import httpx
from PIL import Image

from compute_sim import ComputeSimServer, render
from compute_sim.inputs import Scene, reference_urls, scene
from core.compute import ComputeClient
from core.config import Settings
from tests.compute_sim.support import key, new_task, wait_finished

IVORY = (242, 238, 232)
INPUTS: dict[str, Any] = {
    "strategy": "GENERATE",
    "prompt": "Silk dress; outfit: Scarf, Belt",
    "background_preset": {"id": "bg-1", "name": "Studio ivory", "color": "#F2EEE8"},
    "outfit": {
        "id": "o-1",
        "products": [{"id": "p-2", "name": "Scarf"}, {"id": "p-3", "name": "Belt"}],
        "reference_urls": ["http://127.0.0.1:1/moodboard.jpg"],
    },
    "pose_presets": [{"id": "pose-1", "name": "Hand on hip"}],
}


async def _download(url: str) -> bytes:
    async with httpx.AsyncClient(timeout=10) as client:
        response = await client.get(url)
    assert response.status_code == 200, response.text
    return response.content


def test_reference_urls_from_every_component_once() -> None:
    inputs = {
        "input_image_urls": ["u0"],
        "main_product": {"images": [{"slot": "cover_image", "url": "u1"}, {"key": "no-url"}]},
        "second_product": {"images": [{"url": "u2"}]},
        "subject": {"base_images": [{"url": "u3"}]},
        "style": {"images": [{"url": "u4"}, {"url": "u1"}]},
        "outfit": {"products": [{"images": [{"url": "u5"}]}], "reference_urls": ["u6", 7]},
        "shot_type": {"images": [{"url": "not-a-reference"}]},
    }
    assert reference_urls(inputs) == ["u0", "u1", "u2", "u3", "u4", "u5", "u6"]
    assert reference_urls({"outfit": "garbage", "main_product": ["x"]}) == []


def test_scene_reads_background_outfit_and_pose() -> None:
    assert scene(INPUTS) == Scene(
        background_name="Studio ivory",
        background_colour=IVORY,
        background_label="#F2EEE8",
        outfit_items=("Scarf", "Belt"),
        reference_count=1,
        pose="Hand on hip",
    )
    assert scene({}) == Scene()
    # A colour that is no colour is named, not painted.
    odd = scene({"background_preset": {"name": "Odd", "color": "not-a-colour"}})
    assert (odd.background_colour, odd.background_label) == (None, "not-a-colour")


def test_render_lists_what_arrived_and_fits_a_tiny_output() -> None:
    lines = render._scene_lines(scene(INPUTS), 0)
    assert lines == [
        "background: Studio ivory (#F2EEE8)",
        "references: 1 received, 0 shown",
        "outfit: Scarf, Belt",
        "pose: Hand on hip",
    ]
    tiny = render.render_generation(
        width=64, height=64, fmt="png", seed=1, prompt="p", entity_id="e", scene=scene(INPUTS)
    )
    with Image.open(io.BytesIO(tiny)) as picture:
        assert picture.size == (64, 64)


async def test_get_task_returns_inputs_and_render_paints_the_background(
    compute: ComputeClient, sim_server: ComputeSimServer, sim_settings: Settings, s3: Any
) -> None:
    buffer = io.BytesIO()
    Image.new("RGB", (200, 300), (20, 40, 220)).save(buffer, "PNG")
    ref_key = f"tests/compute_sim/{key()}.png"
    await asyncio.to_thread(
        s3.put_object, Bucket=sim_settings.R2_BUCKET_NAME, Key=ref_key, Body=buffer.getvalue()
    )
    cover = s3.generate_presigned_url(
        "get_object", Params={"Bucket": sim_settings.R2_BUCKET_NAME, "Key": ref_key}
    )
    inputs = {**INPUTS, "main_product": {"id": "p-1", "name": "Dress", "images": [{"url": cover}]}}
    task = new_task(inputs=inputs, output={"width": 256, "height": 320, "format": "png"})
    ref = await compute.create_task(task, idempotency_key=key())
    await wait_finished(compute, ref.id)

    async with httpx.AsyncClient(base_url=str(sim_server.url), timeout=10) as client:
        r = await client.get(
            f"/api/v1/tasks/{ref.id}",
            headers={"Authorization": f"Bearer {sim_settings.COMPUTE_SERVER_ADMIN_TOKEN}"},
        )
    assert r.status_code == 200, r.text
    assert r.json()["inputs"] == inputs

    result = await compute.get_result(ref.id)
    with Image.open(io.BytesIO(await _download(result.output.images[0].url))) as picture:
        rgb = picture.convert("RGB")
        # The backdrop is the preset's colour (right edge, clear of the figure and band)...
        assert rgb.getpixel((254, 150)) == IVORY
        # ...and the main product's image is pasted top left.
        pixel = rgb.getpixel((12, 12))
    assert all(abs(a - b) <= 8 for a, b in zip(pixel, (20, 40, 220), strict=True)), pixel
