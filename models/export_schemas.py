"""API schemas of exports (the `export` table lives in models/jobs.py)."""

from __future__ import annotations

import string
import uuid
from datetime import datetime
from typing import Self

from pydantic import AnyHttpUrl, model_validator
from sqlmodel import Field, SQLModel

from models.base import RecordPublic, TenantPublic
from models.jobs import ExportFormat, ExportTarget, JobStatus

DEFAULT_TEMPLATE = "{sku}_{shot_type}_{n}"
# sku: the look's main product SKU; product: its name; shot_type, look, shooting: names;
# n: the image's 1-based position in its shot's revision; shot_id: the shot's UUID.
PLACEHOLDERS = ("sku", "product", "shot_type", "look", "shooting", "n", "shot_id")
_SAMPLE: dict[str, object] = {
    "sku": "SKU1",
    "product": "Dress",
    "shot_type": "Front",
    "look": "Look-1",
    "shooting": "SS27",
    "n": 1,
    "shot_id": "00000000-0000-0000-0000-000000000000",
}


def template_error(template: str) -> str | None:
    """Why `template` is not a usable naming template, or None when it is."""
    try:
        fields = [f for _, f, _, _ in string.Formatter().parse(template) if f is not None]
    except ValueError as error:
        return f"invalid template: {error}"
    if not fields:
        return f"the template uses no placeholder; use some of {', '.join(PLACEHOLDERS)}"
    unknown = sorted({f for f in fields if f not in PLACEHOLDERS})
    if unknown:
        return (
            f"unknown placeholder(s) {', '.join('{' + u + '}' for u in unknown)}; "
            f"allowed: {', '.join(PLACEHOLDERS)}"
        )
    try:
        template.format(**_SAMPLE)  # format specs such as {n:03d} must apply to the values
    except (ValueError, TypeError, IndexError, KeyError, AttributeError) as error:
        return f"invalid template: {error}"
    return None


# Body of POST /exports/.
class ExportCreate(SQLModel):
    shooting_id: uuid.UUID | None = None
    shot_ids: list[uuid.UUID] | None = Field(default=None, min_length=1, max_length=1000)
    only_approved: bool = True
    format: ExportFormat = ExportFormat.ORIGINAL
    max_dimension: int | None = Field(default=None, ge=64, le=8192)
    naming_template: str = Field(default=DEFAULT_TEMPLATE, min_length=1, max_length=255)
    target: ExportTarget = ExportTarget.ZIP
    webhook_url: AnyHttpUrl | None = Field(default=None, max_length=2048)
    webhook_secret: str | None = Field(default=None, min_length=8, max_length=255)

    @model_validator(mode="after")
    def _check(self) -> Self:
        if (self.shooting_id is None) == (self.shot_ids is None):
            raise ValueError("give exactly one of shooting_id or shot_ids")
        problem = template_error(self.naming_template)
        if problem:
            raise ValueError(f"naming_template: {problem}")
        if self.target == ExportTarget.WEBHOOK:
            if self.webhook_url is None or not self.webhook_secret:
                raise ValueError("a webhook target needs webhook_url and webhook_secret")
        elif self.webhook_url is not None or self.webhook_secret is not None:
            raise ValueError("webhook_url and webhook_secret are only for the webhook target")
        return self


# What the API returns: never the webhook secret.
class ExportPublic(RecordPublic, TenantPublic):
    shooting_id: uuid.UUID | None
    shot_ids: list[uuid.UUID]
    only_approved: bool
    format: ExportFormat
    max_dimension: int | None
    naming_template: str
    target: ExportTarget
    webhook_url: str | None
    status: JobStatus
    progress: float
    total_images: int
    processed_images: int
    failed_images: int
    error_message: str | None
    workflow_id: str | None
    temporal_ui_url: str | None = None
    started_at: datetime | None
    completed_at: datetime | None
    # A presigned GET of the zip, once a zip export has completed.
    download_url: str | None = None
