"""Helpers of the export tests: shots with images (generated, or seeded directly with large
noise images), polling, downloads, the bucket's multipart uploads, a worker subprocess."""

from __future__ import annotations

import asyncio
import io
import random
import uuid
import zipfile
from pathlib import Path
from typing import Any

import httpx
from fastapi import FastAPI
from PIL import Image

from core.storage import ObjectStore, media_key
from models.media import EntityType
from models.shot import RevisionStatus, Shot
from services import images, shots
from services import media as media_service
from tests.generation.conftest import make_shot, wait_status
from tests.helpers import Api, UserHandle
from tests.helpers import eventually as eventually

ROOT = Path(__file__).resolve().parents[2]
DONE = {"completed", "failed", "cancelled"}


async def wait_export(
    api: Api, user: UserHandle, org: str, export_id: str, *, within: float = 60
) -> dict[str, Any]:
    """Poll GET /exports/{id} until it has finished."""

    async def probe() -> dict[str, Any] | None:
        r = await api.get(f"/exports/{export_id}", as_=user, params={"organization_id": org})
        assert r.status_code == 200, r.text
        return r.json() if r.json()["status"] in DONE else None

    return await eventually(probe, within=within, what=f"export {export_id} finished", every=0.1)


async def generated_shots(
    api: Api, user: UserHandle, *, shot_types: int, outputs: list[int]
) -> dict[str, Any]:
    """A look with one shot per shot type, each generated (`outputs[i]` images): every
    shot's current revision is `in_review`."""
    world = await make_shot(api, user, shot_types=shot_types)
    org = world["org"]
    started = []
    for shot_id, count in zip(world["shot_ids"], outputs, strict=True):
        r = await api.post(
            f"/shots/{shot_id}/generate",
            as_=user,
            params={"organization_id": org},
            json={"num_predictions": count},
        )
        assert r.status_code == 202, r.text
        started.append(r.json()["id"])
    for generation_id in started:
        done = await wait_status(api, user, org, generation_id, {"completed", "failed"})
        assert done["status"] == "completed", done
    return world


async def approve(api: Api, user: UserHandle, org: str, shot_id: str) -> None:
    r = await api.post(f"/shots/{shot_id}/approve", as_=user, params={"organization_id": org})
    assert r.status_code == 200, r.text


async def shot(api: Api, user: UserHandle, org: str, shot_id: str) -> dict[str, Any]:
    r = await api.get(f"/shots/{shot_id}", as_=user, params={"organization_id": org})
    assert r.status_code == 200, r.text
    return r.json()


def noise_jpeg(width: int, height: int, seed: str) -> bytes:
    """An incompressible image: large as PNG, so a few of them span several 5 MiB parts."""
    rng = random.Random(seed)
    image = Image.frombytes("RGB", (width, height), rng.randbytes(width * height * 3))
    out = io.BytesIO()
    image.save(out, format="JPEG", quality=95)
    return out.getvalue()


async def seed_approved_images(
    app: FastAPI, api: Api, user: UserHandle, *, count: int, size: tuple[int, int]
) -> dict[str, Any]:
    """`count` shots, each with an approved revision holding one noise image, written the
    way ingestion writes them (canonical key, content-derived media id)."""
    world = await make_shot(api, user, shot_types=count)
    org_id, owner_id = uuid.UUID(world["org"]), uuid.UUID(user.id)
    store: ObjectStore = app.state.store
    async with app.state.sessionmaker() as session:
        for n, shot_id in enumerate(world["shot_ids"]):
            data = noise_jpeg(*size, seed=f"{world['look']['id']}-{n}")
            info = images.analyze(data)
            content_hash = images.md5_hex(data)
            media_id = media_service.media_id_for(
                organization_id=org_id, owner_id=owner_id, content_hash=content_hash
            )
            await asyncio.to_thread(
                store.put, media_key(media_id, info.extension), data, content_type="image/jpeg"
            )
            row = await media_service.upsert(
                session,
                media_service.StoredFile(
                    media_id=media_id,
                    content_hash=content_hash,
                    extension=info.extension,
                    content_type=info.content_type,
                    file_size=len(data),
                    width=info.width,
                    height=info.height,
                    dominant_color=info.dominant_color,
                ),
                organization_id=org_id,
                owner_id=owner_id,
            )
            target = await session.get(Shot, uuid.UUID(shot_id))
            assert target is not None
            revision = await shots.create_revision(
                session, target, generation_id=None, status=RevisionStatus.APPROVED
            )
            await media_service.attach(
                session,
                media_id=row.id,
                entity_type=EntityType.SHOT_REVISION,
                entity_id=revision.id,
                slot="image",
                position=0,
            )
        await session.commit()
    return world


async def download(url: str) -> bytes:
    async with httpx.AsyncClient(timeout=60) as plain:
        r = await plain.get(url)
        assert r.status_code == 200, r.text[:300]
        return r.content


def open_zip(data: bytes) -> zipfile.ZipFile:
    archive = zipfile.ZipFile(io.BytesIO(data))
    assert archive.testzip() is None
    return archive


def multipart_uploads(store: ObjectStore, export_id: str) -> list[dict[str, Any]]:
    page = store.client.list_multipart_uploads(Bucket=store.bucket, Prefix=f"exports/{export_id}/")
    return list(page.get("Uploads", []))
