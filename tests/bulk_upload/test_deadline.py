"""A bulk upload ends within BULK_UPLOAD_DEADLINE_SECONDS: past it the upload ends `failed`
naming the deadline, keeps the chunks applied before it, and the deadline fixed by the plan
is the one every continued run works to. Real services; the session worker runs in this
process and reads the deadline from the settings it was built with."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Iterator
from datetime import timedelta
from typing import Any

import pytest
from fastapi import FastAPI
from temporalio.client import Client

from core.config import Settings
from models.jobs import BulkUpload
from tests.bulk_upload.conftest import RED_PNG, ImageServer
from tests.bulk_upload.support import csv_bytes, start_direct, wait_finished
from tests.helpers import Api, UserHandle
from workflows.bulk_upload_types import BulkUploadInput, BulkUploadProgress

DEADLINE_SECONDS = 5
HANG_SECONDS = 40  # the image server answers this late: far past the deadline


@pytest.fixture
def hanging_image(images: ImageServer) -> Iterator[str]:
    images.routes["/hang.png"] = (200, {"Content-Type": "image/png"}, RED_PNG, HANG_SECONDS)
    try:
        yield images.url("/hang.png")
    finally:
        images.routes.pop("/hang.png", None)


async def test_a_bulk_upload_past_its_deadline_fails_keeping_the_chunks_done(
    api: Api,
    user: UserHandle,
    worker: dict[str, Any],
    app: FastAPI,
    temporal: Client,
    gen_settings: Settings,
    monkeypatch: pytest.MonkeyPatch,
    hanging_image: str,
) -> None:
    monkeypatch.setattr(gen_settings, "BULK_UPLOAD_DEADLINE_SECONDS", DEADLINE_SECONDS)
    tag = uuid.uuid4().hex[:6]
    rows = [[f"D-{tag}-{i}", f"Product {i}", "", "", "", "", "", ""] for i in range(5)]
    rows[3][5] = hanging_image  # the fourth chunk waits on an image that comes too late
    loop = asyncio.get_running_loop()
    began = loop.time()
    # One row per chunk and a new run after each: the deadline must survive continue-as-new.
    upload_id, handle = await start_direct(
        app, temporal, user, csv_bytes(rows), chunk_rows=1, continue_as_new_every=1
    )

    result: BulkUploadProgress = await asyncio.wait_for(handle.result(), DEADLINE_SECONDS + 30)
    elapsed = loop.time() - began
    assert result.status == "failed"
    assert result.runs == 4  # three chunks applied, one run each, then the fourth run
    assert elapsed < DEADLINE_SECONDS + 15, elapsed  # not HANG_SECONDS
    done = await wait_finished(api, user, upload_id, within=10)
    assert done["status"] == "failed"
    message = done["error_message"]
    assert "BULK_UPLOAD_DEADLINE_SECONDS" in message and f"{DEADLINE_SECONDS} s" in message
    assert message.startswith("Stopped after 3 rows"), message
    # The chunks before the deadline stay applied; nothing after it was.
    assert (done["processed_rows"], done["created_count"]) == (3, 3)
    r = await api.get("/products/", as_=user, params={"organization_id": user.orgs[0]})
    skus = {p["sku"] for p in r.json()["data"]}
    assert {f"D-{tag}-{i}" for i in range(3)} <= skus
    assert not {f"D-{tag}-{i}" for i in (3, 4)} & skus

    # The last run works to the deadline the plan fixed in the first run.
    history = await temporal.get_workflow_handle(handle.id).fetch_history()
    started = history.events[0].workflow_execution_started_event_attributes
    assert started.continued_execution_run_id
    (last_input,) = await temporal.data_converter.decode(started.input.payloads, [BulkUploadInput])
    async with app.state.sessionmaker() as session:
        row = await session.get(BulkUpload, uuid.UUID(upload_id))
    assert row is not None and row.started_at is not None
    assert last_input.cursor is not None and last_input.cursor.runs == 4
    assert last_input.cursor.deadline_at == row.started_at + timedelta(seconds=DEADLINE_SECONDS)
