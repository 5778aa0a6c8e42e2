"""Helpers of the look fidelity tests: catalog rows with real uploaded images, a look made
of them, a generation run to its end, and the task's `inputs` as compute_sim received them."""

from __future__ import annotations

import io
import uuid
from typing import Any
from urllib.parse import unquote, urlsplit

import httpx
from PIL import Image

from compute_sim import ComputeSimServer
from tests.generation.conftest import wait_status
from tests.helpers import Api, UserHandle

# Refused at once (nothing listens on port 1): a reference compute_sim counts, not fetches.
UNREACHABLE = "http://127.0.0.1:1"


def png(colour: tuple[int, int, int], size: tuple[int, int] = (40, 60)) -> bytes:
    out = io.BytesIO()
    Image.new("RGB", size, colour).save(out, "PNG")
    return out.getvalue()


async def upload(api: Api, user: UserHandle, data: bytes) -> str:
    """A temp/ key holding `data`, through the presigned PUT the API hands out."""
    r = await api.post(
        "/uploads/presigned-url",
        as_=user,
        json={"filename": "ref.png", "content_type": "image/png", "size": len(data)},
    )
    assert r.status_code == 200, r.text
    body = r.json()
    async with httpx.AsyncClient() as plain:
        put = await plain.put(body["upload_url"], content=data, headers=body["headers"])
    assert put.status_code == 200, put.text
    return body["key"]


async def product(
    api: Api, user: UserHandle, name: str, *slots: tuple[str, tuple[int, int, int]]
) -> dict[str, Any]:
    """A product with one uploaded image per (slot, colour)."""
    images = [{"slot": slot, "key": await upload(api, user, png(colour))} for slot, colour in slots]
    return await api.create(
        "/products/",
        {
            "name": name,
            "sku": uuid.uuid4().hex[:8],
            "description": f"{name}, described",
            "product_type": "dress",
            "images": images,
        },
        as_=user,
        org=user.orgs[0],
    )


def image_keys(public: dict[str, Any]) -> dict[str, str]:
    """slot -> storage key of an API object's images (`media/{id}/file.png`: the uploads
    here are PNGs)."""
    return {i["slot"]: f"media/{i['media_resource_id']}/file.png" for i in public["images"]}


def key_of_url(url: str) -> str:
    """The object key a presigned URL points at (path style: /bucket/key)."""
    path = unquote(urlsplit(url).path).lstrip("/")
    return path.split("/", 1)[1]


async def generate_look(
    api: Api,
    user: UserHandle,
    sim: ComputeSimServer,
    look: dict[str, Any],
    *,
    shot_types: list[str] | None = None,
    shooting: dict[str, Any] | None = None,
    request: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """Make a shooting and `look` (one shot), generate it to completion, and answer the
    generation (`GET /generations/{id}`, with `compute_inputs`), the task's inputs as
    compute_sim's `GET /tasks/{id}` returns them, and the shot type."""
    org = user.orgs[0]
    if shot_types is None:
        shot_types = [
            (await api.create("/shot-types/", {"name": "Front"}, as_=user, org=org))["id"]
        ]
    made = await api.create("/shootings/", {"name": "SS27", **(shooting or {})}, as_=user, org=org)
    created = await api.create(
        f"/shootings/{made['id']}/looks", {"shot_type_ids": shot_types, **look}, as_=user, org=org
    )
    r = await api.post(
        f"/shots/{created['shot_ids'][0]}/generate",
        as_=user,
        params={"organization_id": org},
        json=request or {},
    )
    assert r.status_code == 202, r.text
    done = await wait_status(api, user, org, r.json()["id"], {"completed", "failed"})
    assert done["status"] == "completed", done
    assert sim.url is not None
    async with httpx.AsyncClient(base_url=sim.url, timeout=10) as client:
        task = await client.get(
            f"/api/v1/tasks/{done['compute_task_id']}",
            headers={"Authorization": f"Bearer {sim.settings.COMPUTE_SERVER_ADMIN_TOKEN}"},
        )
    assert task.status_code == 200, task.text
    return {"generation": done, "inputs": task.json()["inputs"], "shot_type_id": shot_types[0]}
