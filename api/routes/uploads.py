"""Presigned uploads into `temp/` (phase one of the two-phase upload)."""

from __future__ import annotations

import asyncio
from typing import Literal

from fastapi import APIRouter
from pydantic import BaseModel, Field

from api.deps import CurrentUser, StoreDep
from services import uploads

router = APIRouter(prefix="/uploads", tags=["uploads"])


class PresignRequest(BaseModel):
    filename: str = Field(min_length=1, max_length=255)
    content_type: str = Field(min_length=3, max_length=128)
    size: int = Field(gt=0, description="Exact size in bytes; the URL accepts only this size.")
    purpose: Literal[
        "product_image", "subject_image", "style_image", "shot_type_image", "bulk_csv"
    ] = "product_image"


class PresignResponse(BaseModel):
    upload_url: str
    key: str
    file_url: str
    expires_in_seconds: int
    headers: dict[str, str]


@router.post("/presigned-url")
async def presigned_url(
    body: PresignRequest, user: CurrentUser, store: StoreDep
) -> PresignResponse:
    """A PUT URL bound to the content type and size; pass `key` to the create call."""
    upload = await asyncio.to_thread(
        uploads.presign,
        store,
        filename=body.filename,
        content_type=body.content_type,
        size=body.size,
        purpose=body.purpose,
    )
    return PresignResponse(**vars(upload))
