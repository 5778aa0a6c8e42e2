"""File delivery: a redirect to the bytes of a media resource the caller may see."""

from __future__ import annotations

import asyncio
import uuid
from typing import Annotated, Literal

from fastapi import APIRouter, Query, Request
from fastapi.responses import RedirectResponse

from api.deps import SessionDep, SettingsDep, StoreDep, oauth2_scheme
from core import file_urls
from services import auth, files
from services.errors import NotFound, Unauthorized

router = APIRouter(tags=["files"])


@router.get("/files/{media_id}", response_class=RedirectResponse, status_code=302)
async def get_file(
    media_id: uuid.UUID,
    request: Request,
    session: SessionDep,
    settings: SettingsDep,
    store: StoreDep,
    exp: Annotated[int | None, Query(description="Expiry of a signed file URL.")] = None,
    sig: Annotated[str | None, Query(max_length=128, description="Its signature.")] = None,
    format: Annotated[Literal["jpeg", "png", "webp", "avif", "auto"] | None, Query()] = None,
    width: Annotated[int | None, Query(ge=1, le=8192)] = None,
    height: Annotated[int | None, Query(ge=1, le=8192)] = None,
    quality: Annotated[int | None, Query(ge=1, le=100)] = None,
) -> RedirectResponse:
    """302 to the CDN (or a short-lived presigned URL when there is no public CDN).

    With a bearer token (header only) for media the caller may see (its organizations',
    its own, and the images of public subjects, shot types and system presets), or as a
    signed URL (`?exp=&sig=`, as API responses give them in `file_url`/`file_urls`) for
    `<img src>`."""
    if exp is not None and sig is not None:
        if not file_urls.verify(settings, media_id, exp, sig):
            raise NotFound("File not found")
        media = await files.media_by_id(session, media_id)
    else:
        bearer = await oauth2_scheme(request)
        if not bearer:
            raise Unauthorized("Not authenticated")
        user = await auth.user_from_access_token(session, settings, bearer)
        media = await files.readable_media(session, user, media_id)
    if settings.R2_PUBLIC_URL:
        url = files.cdn_url(
            settings, media.storage_key, fmt=format, width=width, height=height, quality=quality
        )
    else:
        url = await asyncio.to_thread(store.presigned_get, media.storage_key, expires_in=900)
    # Short private caching: the target of a presigned redirect expires.
    return RedirectResponse(url, status_code=302, headers={"Cache-Control": "private, max-age=300"})
