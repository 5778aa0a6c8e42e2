"""CaptionWorkflow ends within its deadline: a compute task that never ends is cancelled and
the run fails naming CAPTION_DEADLINE_SECONDS; an image gone from the store fails at once.
Real services throughout (Temporal, Postgres, the object store, compute_sim)."""

from __future__ import annotations

import asyncio
import io
import uuid
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from PIL import Image
from temporalio.client import Client, WorkflowExecutionStatus, WorkflowFailureError
from temporalio.exceptions import ActivityError, ApplicationError, FailureError, RetryState

from compute_sim import ComputeSimServer
from core.temporal import STATUS
from models.media import MediaResource
from tests.generation.support import sim_tasks
from tests.helpers import Api, UserHandle

DEADLINE_SECONDS = 5


def _png(color: tuple[int, int, int]) -> bytes:
    out = io.BytesIO()
    Image.new("RGB", (48, 64), color).save(out, "PNG")
    return out.getvalue()


async def _uploaded(api: Api, user: UserHandle, color: tuple[int, int, int]) -> str:
    """A presigned upload of a small PNG; returns its temp key."""
    data = _png(color)
    r = await api.post(
        "/uploads/presigned-url",
        as_=user,
        json={"filename": "cover.png", "content_type": "image/png", "size": len(data)},
    )
    assert r.status_code == 200, r.text
    body = r.json()
    async with httpx.AsyncClient() as plain:
        put = await plain.put(body["upload_url"], content=data, headers=body["headers"])
    assert put.status_code == 200, put.text
    return body["key"]


async def _product_with_cover(api: Api, user: UserHandle, color: tuple[int, int, int]) -> dict:
    """A product with a cover image: creating it starts the cover's caption run."""
    key = await _uploaded(api, user, color)
    return await api.create(
        "/products/",
        {"name": f"Top {uuid.uuid4().hex[:6]}", "images": [{"key": key}]},
        as_=user,
        org=user.orgs[0],
    )


@pytest.fixture
def small_caption_deadline(app: FastAPI) -> Iterator[int]:
    """The API starts caption runs with CAPTION_DEADLINE_SECONDS from its settings.
    (Swapped by hand: app.state keeps attributes in a dict monkeypatch does not restore.)"""
    saved = app.state.settings
    app.state.settings = saved.model_copy(update={"CAPTION_DEADLINE_SECONDS": DEADLINE_SECONDS})
    try:
        yield DEADLINE_SECONDS
    finally:
        app.state.settings = saved


async def _failure(handle: Any, within: float) -> FailureError:
    """How the run failed (it must fail within `within` seconds)."""
    with pytest.raises(WorkflowFailureError) as failed:
        await asyncio.wait_for(handle.result(), within)
    cause = failed.value.cause
    assert isinstance(cause, FailureError), repr(cause)
    return cause


async def test_a_caption_task_that_never_ends_fails_the_run_at_its_deadline(
    api: Api,
    user: UserHandle,
    worker: dict[str, Any],
    app: FastAPI,
    temporal: Client,
    knobs: ComputeSimServer,
    small_caption_deadline: int,
) -> None:
    knobs.config = knobs.config.merged({"stuck_rate": 1.0})  # every new task hangs
    loop = asyncio.get_running_loop()
    started = loop.time()
    product = await _product_with_cover(api, user, (90, 10, 140))
    media_id = product["cover_image_id"]
    handle = temporal.get_workflow_handle(f"caption-{media_id}")

    cause = await _failure(handle, within=small_caption_deadline + 40)
    assert isinstance(cause, ApplicationError), repr(cause)
    elapsed = loop.time() - started
    assert "CAPTION_DEADLINE_SECONDS" in cause.message and f"{small_caption_deadline} s" in (
        cause.message
    ), cause.message
    assert cause.type == "DeadlineExceeded"
    assert small_caption_deadline <= elapsed < small_caption_deadline + 30, elapsed
    described = await handle.describe()
    assert described.status == WorkflowExecutionStatus.FAILED
    assert described.typed_search_attributes.get(STATUS) == "failed"
    # The hung task was cancelled, and nothing was written.
    tasks = sim_tasks(knobs, media_id, "caption")
    assert len(tasks) == 1 and tasks[0].plan.stuck
    assert tasks[0].status == "cancelled"
    async with app.state.sessionmaker() as session:
        media = await session.get(MediaResource, uuid.UUID(media_id))
    assert media is not None and media.caption is None and media.alt_text is None


async def test_a_caption_of_an_image_gone_from_the_store_fails_at_once(
    api: Api,
    user: UserHandle,
    worker: dict[str, Any],
    app: FastAPI,
    temporal: Client,
    knobs: ComputeSimServer,
    small_caption_deadline: int,
) -> None:
    # A subject's image: no caption run starts by itself.
    subject = await api.create(
        "/subjects/",
        {"name": "Ava", "images": [{"key": await _uploaded(api, user, (10, 140, 90))}]},
        as_=user,
        org=user.orgs[0],
    )
    media_id = subject["images"][0]["media_resource_id"]
    async with app.state.sessionmaker() as session:
        media = await session.get(MediaResource, uuid.UUID(media_id))
    assert media is not None
    await asyncio.to_thread(app.state.store.delete, media.storage_key)

    r = await api.post(
        "/captions/",
        as_=user,
        params={"organization_id": user.orgs[0]},
        json={"media_resource_id": media_id},
    )
    assert r.status_code == 202, r.text
    handle = temporal.get_workflow_handle(r.json()["workflow_id"])
    # Well before the deadline: the activity's own error, at its first attempt.
    cause = await _failure(handle, within=small_caption_deadline)
    assert isinstance(cause, ActivityError) and isinstance(cause.cause, ApplicationError)
    assert cause.cause.type == "MissingImage" and "missing from the store" in cause.cause.message
    assert cause.retry_state == RetryState.NON_RETRYABLE_FAILURE
    history = await handle.fetch_history()
    attempts = [e for e in history.events if e.HasField("activity_task_started_event_attributes")]
    assert [e.activity_task_started_event_attributes.attempt for e in attempts] == [1]
    assert (await handle.describe()).typed_search_attributes.get(STATUS) == "failed"
    assert sim_tasks(knobs, media_id, "caption") == []  # nothing was asked of compute
