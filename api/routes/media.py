"""Media resources: read, enrich (fill empty metadata only), protect, delete."""

from __future__ import annotations

import logging
import uuid

from fastapi import APIRouter, Response
from temporalio.service import RPCError

from api.deps import CurrentUser, SessionDep, SettingsDep, TemporalDep
from core.starts import start_media_deletion
from models.media import MediaResourcePublic, MediaResourceUpdate
from services import maintenance, media_lifecycle
from workflows.maintenance_types import MediaDeletionInput

log = logging.getLogger(__name__)
router = APIRouter(prefix="/media-resources", tags=["media"])


@router.get("/{media_id}")
async def read_media(
    media_id: uuid.UUID, session: SessionDep, user: CurrentUser
) -> MediaResourcePublic:
    """A media resource of one of the caller's organizations, or a personal one."""
    return media_lifecycle.public(await media_lifecycle.get_visible(session, user, media_id))


@router.patch("/{media_id}")
async def enrich_media(
    media_id: uuid.UUID, body: MediaResourceUpdate, session: SessionDep, user: CurrentUser
) -> MediaResourcePublic:
    """Fill metadata that is still empty; a field that already has a value is silently
    left as it is (background enrichers may call this any number of times)."""
    media = await media_lifecycle.get_visible(session, user, media_id)
    await media_lifecycle.fill_missing(session, media, body.model_dump(exclude_unset=True))
    await session.commit()
    return media_lifecycle.public(media)


@router.delete("/{media_id}", status_code=204)
async def delete_media(
    media_id: uuid.UUID,
    session: SessionDep,
    user: CurrentUser,
    settings: SettingsDep,
    temporal: TemporalDep,
) -> Response:
    """409 when protected or still attached (the detail says which). Otherwise the row is
    deleted and committed first; the object is deleted afterwards by a workflow, so a
    failing bucket never leaves a row pointing at nothing."""
    media = await media_lifecycle.get_visible(session, user, media_id, for_update=True)
    organization_id, owner_id = media.organization_id, media.owner_id
    key = await media_lifecycle.delete(session, media)
    await session.commit()
    deletion = MediaDeletionInput(storage_key=key, media_resource_id=str(media_id))
    try:
        client = await temporal.get()
        await start_media_deletion(
            client,
            deletion,
            organization_id=organization_id,
            owner_id=owner_id,
            task_queue_prefix=settings.TASK_QUEUE_PREFIX,
        )
    except (RPCError, OSError, RuntimeError) as error:
        # The row is gone already: hand the key to the dead-letter retry schedule.
        log.warning("media deletion workflow for %s not started: %s", key, error)
        await maintenance.record_dead_letter(
            session,
            storage_key=key,
            media_resource_id=media_id,
            error_message=f"deletion workflow could not start: {error}",
            attempted=False,
        )
        await session.commit()
    return Response(status_code=204)


@router.post("/{media_id}/protect")
async def protect_media(
    media_id: uuid.UUID, session: SessionDep, user: CurrentUser
) -> MediaResourcePublic:
    """Never removed by automatic cleanup (organization owner/admin, or superuser)."""
    return await _set_protected(session, user, media_id, True)


@router.post("/{media_id}/unprotect")
async def unprotect_media(
    media_id: uuid.UUID, session: SessionDep, user: CurrentUser
) -> MediaResourcePublic:
    return await _set_protected(session, user, media_id, False)


async def _set_protected(
    session: SessionDep, user: CurrentUser, media_id: uuid.UUID, protected: bool
) -> MediaResourcePublic:
    media = await media_lifecycle.get_visible(session, user, media_id)
    await media_lifecycle.set_protected(session, user, media, protected)
    await session.commit()
    return media_lifecycle.public(media)
