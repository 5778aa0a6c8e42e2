"""A person can see in the output that a look's inputs arrived: a generation of a look with
a coloured background preset, an outfit and product images renders on the preset's colour
with the product's image pasted and the background, reference count and outfit items named.
With SARTIQ_WRITE_SAMPLES=1 the image is kept as docs/images/render-fidelity.png."""

from __future__ import annotations

import io
import os
from pathlib import Path
from typing import Any

import httpx
from PIL import Image

from compute_sim import ComputeSimServer
from tests.generation.look_world import UNREACHABLE, generate_look, product
from tests.helpers import Api, UserHandle

SAMPLE = Path(__file__).resolve().parents[2] / "docs" / "images" / "render-fidelity.png"
SAGE = (178, 196, 170)
RED = (200, 30, 35)


async def test_the_render_shows_background_outfit_and_references(
    api: Api, user: UserHandle, worker: dict[str, Any], sim: ComputeSimServer
) -> None:
    org = user.orgs[0]
    dress = await product(
        api, user, "Silk dress", ("cover_image", RED), ("back_image", (20, 40, 160))
    )
    scarf = await product(api, user, "Scarf", ("cover_image", (240, 215, 50)))
    boots = await product(api, user, "Ankle boots", ("cover_image", (60, 35, 20)))
    outfit = await api.create(
        "/outfits/",
        {
            "name": "Garden party",
            "product_ids": [scarf["id"], boots["id"]],
            "reference_urls": [f"{UNREACHABLE}/moodboard.jpg"],
        },
        as_=user,
        org=org,
    )
    background = await api.create(
        "/background-presets/", {"name": "Sage paper", "color": "#B2C4AA"}, as_=user, org=org
    )
    got = await generate_look(
        api,
        user,
        sim,
        {
            "width": 360,
            "height": 450,
            "file_format": "png",
            "main_product_id": dress["id"],
            "outfit_id": outfit["id"],
            "background_preset_id": background["id"],
        },
        request={"config": {"seed": 11}},
    )
    # 2 dress images + 1 per outfit product + the outfit's reference URL.
    assert got["inputs"]["background_preset"]["color"] == "#B2C4AA"
    redirect = await api.client.get(
        got["generation"]["predictions"][0]["file_url"], headers=user.headers
    )
    async with httpx.AsyncClient() as plain:
        data = (await plain.get(redirect.headers["location"])).content
    with Image.open(io.BytesIO(data)) as picture:
        rgb = picture.convert("RGB")
    assert rgb.size == (360, 450)
    assert rgb.getpixel((355, 200)) == SAGE  # the backdrop is the preset's colour
    cover = rgb.getpixel((14, 14))  # the dress's cover image, first thumbnail, top left
    assert all(abs(a - b) <= 8 for a, b in zip(cover, RED, strict=True)), cover
    if os.environ.get("SARTIQ_WRITE_SAMPLES") == "1":
        SAMPLE.parent.mkdir(parents=True, exist_ok=True)
        SAMPLE.write_bytes(data)
