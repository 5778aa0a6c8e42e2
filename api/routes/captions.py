"""Captioning on request: a media resource, or a product's cover image."""

from __future__ import annotations

import uuid

from fastapi import APIRouter
from pydantic import BaseModel, model_validator
from temporalio.service import RPCError

from api.deps import ScopeDep, SessionDep, SettingsDep, TemporalDep
from core.starts import start_caption
from core.temporal import ui_url
from models.media import EntityType
from services import files, products, run_labels, uploads
from services.errors import BadRequest, WorkflowUnavailable

router = APIRouter(prefix="/captions", tags=["captions"])


class CaptionRequest(BaseModel):
    media_resource_id: uuid.UUID | None = None
    product_id: uuid.UUID | None = None

    @model_validator(mode="after")
    def _one_target(self) -> CaptionRequest:
        if (self.media_resource_id is None) == (self.product_id is None):
            raise ValueError("give exactly one of media_resource_id or product_id")
        return self


class CaptionStarted(BaseModel):
    media_resource_id: uuid.UUID
    product_id: uuid.UUID | None
    workflow_id: str
    temporal_ui_url: str | None


@router.post("/", status_code=202)
async def caption(
    body: CaptionRequest,
    session: SessionDep,
    scope: ScopeDep,
    settings: SettingsDep,
    temporal: TemporalDep,
) -> CaptionStarted:
    """Start CaptionWorkflow; empty `caption`/`alt_text` (and description) get filled."""
    product_name: str | None = None
    if body.product_id is not None:
        product = await products.get(session, scope, body.product_id)
        product_name = product.name
        images = (await uploads.images_of(session, EntityType.PRODUCT, [product.id])).get(
            product.id, []
        )
        cover = next((i for i in images if i.slot == "cover_image"), None)
        if cover is None:
            raise BadRequest("The product has no cover image to caption")
        media_id, organization_id = cover.media_resource_id, product.organization_id
    else:
        assert body.media_resource_id is not None
        user = await files.user_of_scope(session, scope)
        media = await files.visible_media(session, user, body.media_resource_id)
        media_id, organization_id = media.id, media.organization_id
    label = await run_labels.caption(
        session, media_id=media_id, product_name=product_name, organization_id=organization_id
    )
    try:
        client = await temporal.get()
        handle = await start_caption(
            client,
            media_id=media_id,
            product_id=body.product_id,
            organization_id=organization_id,
            owner_id=scope.user_id,
            task_queue_prefix=settings.TASK_QUEUE_PREFIX,
            deadline_seconds=settings.CAPTION_DEADLINE_SECONDS,
            label=label,
        )
    except RPCError as error:
        raise WorkflowUnavailable(f"Could not start captioning: {error}") from error
    return CaptionStarted(
        media_resource_id=media_id,
        product_id=body.product_id,
        workflow_id=handle.id,
        temporal_ui_url=ui_url(settings, handle.id),
    )
