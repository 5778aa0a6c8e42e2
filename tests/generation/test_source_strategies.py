"""Strategies with a source image (issue 15), one test each through the real stack (API →
Temporal → worker → compute_sim): generate a base image, run the strategy on its
prediction (or on a media of the organization), and check that compute_sim received the
source (GET /tasks/{id}), that its output changed the source as the strategy says (read
back from the bucket), and that the result is a new revision of the same shot."""

from __future__ import annotations

import asyncio
import io
import uuid
from typing import Any

import httpx
from fastapi import FastAPI
from PIL import Image, ImageStat

from compute_sim import ComputeSimServer
from compute_sim.transform import FACE_MARK, face_box
from models.media import MediaResource
from tests.generation.conftest import wait_status
from tests.generation.look_world import generate_look, key_of_url, png, upload
from tests.helpers import Api, UserHandle

SMALL = {"width": 128, "height": 160}


async def _media(app: FastAPI, media_id: str) -> tuple[MediaResource, Image.Image]:
    async with app.state.sessionmaker() as session:
        row = await session.get(MediaResource, uuid.UUID(media_id))
    assert row is not None
    data = await asyncio.to_thread(app.state.store.get, row.storage_key)
    return row, Image.open(io.BytesIO(data)).convert("RGB")


async def _task_inputs(sim: ComputeSimServer, task_id: str) -> dict[str, Any]:
    assert sim.url is not None
    async with httpx.AsyncClient(base_url=sim.url, timeout=10) as client:
        task = await client.get(
            f"/api/v1/tasks/{task_id}",
            headers={"Authorization": f"Bearer {sim.settings.COMPUTE_SERVER_ADMIN_TOKEN}"},
        )
    assert task.status_code == 200, task.text
    return task.json()["inputs"]


async def _base(api: Api, user: UserHandle, sim: ComputeSimServer, **look: Any) -> dict[str, Any]:
    """A completed GENERATE of a one-shot look: its generation and its one prediction."""
    got = await generate_look(api, user, sim, {**SMALL, **look})
    generation = got["generation"]
    (prediction,) = generation["predictions"]
    return {"generation": generation, "prediction": prediction, "shot_id": generation["shot_id"]}


async def _run(
    api: Api,
    user: UserHandle,
    app: FastAPI,
    sim: ComputeSimServer,
    shot_id: str,
    body: dict[str, Any],
    source_media_id: str,
) -> dict[str, Any]:
    """Run a strategy on a shot, to completion; check what compute_sim received and that
    the shot has a new revision holding the output. Answers the generation, the task's
    inputs and the source and output images."""
    org = user.orgs[0]
    before = (
        await api.get(f"/shots/{shot_id}/revisions", as_=user, params={"organization_id": org})
    ).json()
    r = await api.post(
        f"/shots/{shot_id}/generate", as_=user, params={"organization_id": org}, json=body
    )
    assert r.status_code == 202, r.text
    done = await wait_status(api, user, org, r.json()["id"], {"completed", "failed"})
    assert done["status"] == "completed", done
    assert done["strategy"] == body["strategy"]
    assert done["source_media_id"] == source_media_id
    inputs = await _task_inputs(sim, done["compute_task_id"])
    source_row, source = await _media(app, source_media_id)
    # The source reached Compute as a presigned URL of its key; the generation keeps the key.
    sent = inputs["source_image"]
    assert key_of_url(sent.pop("url")) == source_row.storage_key
    named = (
        {"prediction_id": body["source_prediction_id"]}
        if "source_prediction_id" in body
        else {"media_id": source_media_id}
    )
    assert sent == named
    assert done["compute_inputs"]["source_image"] == {**named, "key": source_row.storage_key}
    assert inputs["strategy"] == body["strategy"]
    (prediction,) = done["predictions"]
    _, output = await _media(app, prediction["media_resource_id"])
    # A new in-review revision of the same shot, holding the output.
    after = (
        await api.get(f"/shots/{shot_id}/revisions", as_=user, params={"organization_id": org})
    ).json()
    assert after["count"] == before["count"] + 1
    (revision,) = [r for r in after["data"] if r["generation_id"] == done["id"]]
    assert revision["shot_id"] == shot_id and revision["status"] == "in_review"
    assert revision["media_resource_ids"] == [prediction["media_resource_id"]]
    return {"generation": done, "inputs": inputs, "source": source, "output": output}


def _close(a: tuple[int, ...], b: tuple[int, ...], within: int = 24) -> bool:
    return all(abs(x - y) <= within for x, y in zip(a, b, strict=True))


def _luminance(image: Image.Image, box: tuple[int, int, int, int] | None = None) -> float:
    return ImageStat.Stat((image.crop(box) if box else image).convert("L")).mean[0]


async def test_refine_doubles_the_source_size(
    api: Api, user: UserHandle, app: FastAPI, worker: dict[str, Any], sim: ComputeSimServer
) -> None:
    base = await _base(api, user, sim)
    prediction = base["prediction"]
    got = await _run(
        api,
        user,
        app,
        sim,
        base["shot_id"],
        {"strategy": "REFINE", "source_prediction_id": prediction["id"]},
        prediction["media_resource_id"],
    )
    assert got["source"].size == (128, 160)
    assert got["output"].size == (256, 320)
    assert got["inputs"]["upscale"] == 2
    assert got["inputs"]["output"] == {"width": 256, "height": 320, "format": "jpg"}
    assert got["generation"]["config"]["upscale"] == 2
    assert got["generation"]["source_prediction_id"] == prediction["id"]


async def test_refine_by_the_configured_factor(
    api: Api, user: UserHandle, app: FastAPI, worker: dict[str, Any], sim: ComputeSimServer
) -> None:
    base = await _base(api, user, sim)
    prediction = base["prediction"]
    body = {
        "strategy": "REFINE",
        "source_prediction_id": prediction["id"],
        "config": {"upscale": 3},
    }
    got = await _run(api, user, app, sim, base["shot_id"], body, prediction["media_resource_id"])
    assert got["output"].size == (384, 480) and got["inputs"]["upscale"] == 3


async def test_background_fixing_paints_the_preset_colour_behind(
    api: Api, user: UserHandle, app: FastAPI, worker: dict[str, Any], sim: ComputeSimServer
) -> None:
    org = user.orgs[0]
    preset = await api.create(
        "/background-presets/", {"name": "Studio", "color": "#2050D0"}, as_=user, org=org
    )
    # The base renders on the preset's blue; the fix then asks for green behind the figure.
    base = await _base(api, user, sim, background_preset_id=preset["id"])
    r = await api.patch(
        f"/background-presets/{preset['id']}",
        as_=user,
        params={"organization_id": org},
        json={"color": "#10C040"},
    )
    assert r.status_code == 200, r.text
    prediction = base["prediction"]
    got = await _run(
        api,
        user,
        app,
        sim,
        base["shot_id"],
        {"strategy": "BACKGROUND_FIXING", "source_prediction_id": prediction["id"]},
        prediction["media_resource_id"],
    )
    source, output = got["source"], got["output"]
    assert output.size == source.size
    for corner in ((1, 1), (output.width - 2, 1)):
        assert _close(source.getpixel(corner), (0x20, 0x50, 0xD0)), source.getpixel(corner)
        assert _close(output.getpixel(corner), (0x10, 0xC0, 0x40)), output.getpixel(corner)
    # The figure in front of the background is left alone.
    middle = (output.width // 2, output.height // 2)
    assert _close(output.getpixel(middle), source.getpixel(middle))
    assert not _close(output.getpixel(middle), (0x10, 0xC0, 0x40))


async def test_face_fixing_marks_the_face_region(
    api: Api, user: UserHandle, app: FastAPI, worker: dict[str, Any], sim: ComputeSimServer
) -> None:
    base = await _base(api, user, sim)
    prediction = base["prediction"]
    got = await _run(
        api,
        user,
        app,
        sim,
        base["shot_id"],
        {"strategy": "FACE_FIXING", "source_prediction_id": prediction["id"]},
        prediction["media_resource_id"],
    )
    output = got["output"]
    left, top, right, _bottom = face_box(*output.size)
    on_outline = ((left + right) // 2, top + 1)
    assert _close(output.getpixel(on_outline), FACE_MARK, within=60), output.getpixel(on_outline)
    assert not _close(got["source"].getpixel(on_outline), FACE_MARK, within=60)


async def _upload_media(api: Api, user: UserHandle, data: bytes) -> str:
    """A media id of the user's organization holding `data` (a product's cover image)."""
    key = await upload(api, user, data)
    made = await api.create(
        "/products/",
        {
            "name": "Source",
            "sku": uuid.uuid4().hex[:8],
            "images": [{"slot": "cover_image", "key": key}],
        },
        as_=user,
        org=user.orgs[0],
    )
    return made["images"][0]["media_resource_id"]


async def test_image_adjusting_a_media_of_the_organization(
    api: Api, user: UserHandle, app: FastAPI, worker: dict[str, Any], sim: ComputeSimServer
) -> None:
    # The source is a catalog image (source_media_id), not a prediction; the shot is any.
    base = await _base(api, user, sim)
    media_id = await _upload_media(api, user, png((90, 90, 90), (96, 128)))
    got = await _run(
        api,
        user,
        app,
        sim,
        base["shot_id"],
        {"strategy": "IMAGE_ADJUSTING", "source_media_id": media_id},
        media_id,
    )
    assert got["output"].size == (96, 128)
    box = (0, 0, 96, 90)  # above the label at the bottom
    assert _luminance(got["output"], box) > _luminance(got["source"], box) + 15
    assert got["generation"]["source_prediction_id"] is None


async def test_editing_writes_the_instruction_over_the_source(
    api: Api, user: UserHandle, app: FastAPI, worker: dict[str, Any], sim: ComputeSimServer
) -> None:
    base = await _base(api, user, sim)
    prediction = base["prediction"]
    instruction = "make the dress red"
    got = await _run(
        api,
        user,
        app,
        sim,
        base["shot_id"],
        {
            "strategy": "EDITING",
            "source_prediction_id": prediction["id"],
            "config": {"prompt": instruction},
        },
        prediction["media_resource_id"],
    )
    assert got["inputs"]["prompt"] == instruction
    source, output = got["source"], got["output"]
    assert output.size == source.size
    band = (0, 0, output.width, 8)  # the caption band's shade over the top
    assert _luminance(output, band) < _luminance(source, band) - 20
