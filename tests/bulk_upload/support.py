"""Helpers of the bulk upload tests: CSV building, uploading, waiting, direct starts."""

from __future__ import annotations

import asyncio
import csv
import io
import uuid
from collections.abc import Iterable, Sequence
from typing import Any

from fastapi import FastAPI
from sqlalchemy import func, select
from temporalio.client import Client, WorkflowHandle

from core import events
from core.starts import bulk_upload_workflow_id, start_bulk_upload
from models.jobs import BulkUpload
from models.media import MediaResource
from services import bulk_uploads
from tests.helpers import Api, UserHandle

HEADER = (
    "sku",
    "name",
    "product_family",
    "product_type",
    "description",
    "cover_image_url",
    "back_image_url",
    "tags",
)


def csv_bytes(
    rows: Iterable[Sequence[Any]], header: Sequence[str] = HEADER, *, bom: bool = False
) -> bytes:
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow(header)
    writer.writerows(rows)
    return (b"\xef\xbb\xbf" if bom else b"") + out.getvalue().encode()


async def upload(
    api: Api,
    user: UserHandle,
    data: bytes,
    *,
    filename: str = "products.csv",
    content_type: str = "text/csv",
    org: str | None = None,
) -> Any:
    return await api.post(
        "/bulk-uploads/",
        as_=user,
        params={"organization_id": org or user.orgs[0]},
        files={"file": (filename, data, content_type)},
    )


async def wait_finished(
    api: Api,
    user: UserHandle,
    upload_id: str,
    *,
    org: str | None = None,
    personal: bool = False,
    within: float = 120,
) -> dict[str, Any]:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + within
    params = {} if personal else {"organization_id": org or user.orgs[0]}
    while True:
        r = await api.get(f"/bulk-uploads/{upload_id}", as_=user, params=params)
        assert r.status_code == 200, r.text
        body = r.json()
        if body["status"] in ("completed", "failed", "cancelled") and body["completed_at"]:
            return body
        if loop.time() > deadline:
            raise AssertionError(f"bulk upload still {body['status']} after {within}s: {body}")
        await asyncio.sleep(0.1)


async def run_upload(
    api: Api, user: UserHandle, data: bytes, *, within: float = 180, **kw: Any
) -> dict[str, Any]:
    r = await upload(api, user, data, **kw)
    assert r.status_code == 202, r.text
    return await wait_finished(api, user, r.json()["id"], within=within)


async def all_errors(api: Api, user: UserHandle, upload_id: str) -> list[dict[str, Any]]:
    found: list[dict[str, Any]] = []
    while True:
        r = await api.get(
            f"/bulk-uploads/{upload_id}/errors",
            as_=user,
            params={"organization_id": user.orgs[0], "skip": len(found), "limit": 500},
        )
        assert r.status_code == 200, r.text
        page = r.json()
        found.extend(page["data"])
        if len(found) >= page["count"] or not page["data"]:
            return found


async def start_direct(
    app: FastAPI, temporal: Client, user: UserHandle, data: bytes, **knobs: Any
) -> tuple[str, WorkflowHandle]:
    """The API's steps, with the workflow's test knobs (chunk size, continue-as-new)."""
    upload_id = uuid.uuid4()
    store = app.state.store
    await asyncio.to_thread(store.put, bulk_uploads.source_key(upload_id), data)
    async with app.state.sessionmaker() as session:
        session.add(
            BulkUpload(
                id=upload_id,
                organization_id=uuid.UUID(user.orgs[0]),
                owner_id=uuid.UUID(user.id),
                filename="direct.csv",
                source_key=bulk_uploads.source_key(upload_id),
                workflow_id=bulk_upload_workflow_id(upload_id),
            )
        )
        await session.commit()
    handle = await start_bulk_upload(
        temporal,
        upload_id=upload_id,
        organization_id=uuid.UUID(user.orgs[0]),
        owner_id=uuid.UUID(user.id),
        **knobs,
    )
    return str(upload_id), handle


async def media_count(app: FastAPI, org: str) -> int:
    async with app.state.sessionmaker() as session:
        return int(
            await session.scalar(
                select(func.count())
                .select_from(MediaResource)
                .where(MediaResource.organization_id == uuid.UUID(org))
            )
            or 0
        )


async def bulk_events(app: FastAPI, org: str, upload_id: str) -> list[dict[str, Any]]:
    messages = await events.replay(app.state.redis, [events.org_scope(org)], "0")
    return [
        m
        for m in messages
        if m["type"].startswith("bulk_upload.") and m["payload"]["id"] == upload_id
    ]
