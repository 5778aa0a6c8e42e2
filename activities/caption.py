"""Side effects of CaptionWorkflow: the compute caption task and fill-only-empty writes."""

from __future__ import annotations

import asyncio
import uuid

from temporalio import activity
from temporalio.exceptions import ApplicationError

from activities.clients import Clients
from core.compute import ComputeError, TaskCreate
from core.db import session_scope
from models.media import MediaResource
from models.product import Product
from workflows.caption_types import ApplyCaptionInput, CaptionInput
from workflows.types import TaskSnapshot


def _failure(error: ComputeError) -> ApplicationError:
    return ApplicationError(str(error), type="ComputeError", non_retryable=not error.retryable)


class CaptionActivities:
    def __init__(self, clients: Clients) -> None:
        self.clients = clients

    @activity.defn(name="caption.submit")
    async def submit_caption(self, data: CaptionInput) -> str:
        async with session_scope(self.clients.sessionmaker) as session:
            media = await session.get(MediaResource, uuid.UUID(data.media_id))
        if media is None:
            raise ApplicationError(
                "media resource no longer exists", type="NotFound", non_retryable=True
            )
        if await asyncio.to_thread(self.clients.store.head, media.storage_key) is None:
            raise ApplicationError(
                f"{media.storage_key} is missing from the store",
                type="MissingImage",
                non_retryable=True,
            )
        url = await asyncio.to_thread(self.clients.store.presigned_get, media.storage_key)
        task = TaskCreate(type="caption", entity_id=data.media_id, inputs={"image_url": url})
        try:
            # One caption task per media resource: a retried start reuses it.
            ref = await self.clients.compute.create_task(
                task, idempotency_key=f"caption:{data.media_id}"
            )
        except ComputeError as error:
            raise _failure(error) from error
        return ref.id

    @activity.defn(name="caption.status")
    async def caption_status(self, task_id: str) -> TaskSnapshot:
        try:
            state = await self.clients.compute.get_task(task_id)
        except ComputeError as error:
            raise _failure(error) from error
        return TaskSnapshot(
            task_id=state.id,
            status=state.status,
            progress=state.progress or 0.0,
            error_message=state.error_message,
            error_category=state.error_category,
        )

    @activity.defn(name="caption.text")
    async def caption_text(self, task_id: str) -> str | None:
        try:
            result = await self.clients.compute.get_result(task_id)
        except ComputeError as error:
            raise _failure(error) from error
        return (result.output.text or "").strip() or None

    @activity.defn(name="caption.cancel")
    async def cancel_caption(self, task_id: str) -> str:
        """Cancel a task the run gave up on (its deadline passed); returns its status."""
        try:
            state = await self.clients.compute.cancel_task(task_id)
        except ComputeError as error:
            raise _failure(error) from error
        return state.status

    @activity.defn(name="caption.apply")
    async def apply_caption(self, data: ApplyCaptionInput) -> list[str]:
        """Fill only empty fields: a caption never overwrites what a person wrote."""
        filled = []
        async with session_scope(self.clients.sessionmaker) as session:
            media = await session.get(MediaResource, uuid.UUID(data.media_id), with_for_update=True)
            if media is not None:
                if not media.caption:
                    media.caption, filled = data.text, [*filled, "caption"]
                if not media.alt_text:
                    media.alt_text, filled = data.text[:500], [*filled, "alt_text"]
            if data.product_id:
                product = await session.get(
                    Product, uuid.UUID(data.product_id), with_for_update=True
                )
                if product is not None and not product.description:
                    product.description = data.text
                    filled.append("product.description")
        return filled
