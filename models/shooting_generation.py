"""Batch generations of a shooting: one row per batch (`POST /shootings/{id}/generate`), run
by ShootingGenerationWorkflow as `shooting-generation-{id}`; its generations point back at it
(`generation.shooting_generation_id`)."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlmodel import Field, SQLModel

from models.base import (
    IdMixin,
    RecordPublic,
    TenantMixin,
    TenantPublic,
    TimestampMixin,
    enum_field,
    json_field,
    tz_datetime,
)
from models.jobs import JobStatus

MAX_SKIPPED_LISTED = 1000


def batch_workflow_id(batch_id: uuid.UUID | str) -> str:
    return f"shooting-generation-{batch_id}"


# The table. Counts are the batch's outcome once it ended (kept by the workflow at each page
# and at the end); while it runs the API reads them from its generations instead.
class ShootingGeneration(IdMixin, TimestampMixin, TenantMixin, table=True):
    __tablename__ = "shooting_generation"
    # The shooting's batches, newest first (the list route), and its active one (a start).
    __table_args__ = (
        sa.Index("ix_shooting_generation_shooting_created", "shooting_id", "created_at"),
    )
    shooting_id: uuid.UUID = Field(foreign_key="shooting.id", ondelete="CASCADE")
    look_id: uuid.UUID | None = Field(
        default=None, foreign_key="shooting_look.id", ondelete="SET NULL"
    )
    requested_by: uuid.UUID | None = Field(default=None, foreign_key="user.id", ondelete="SET NULL")
    # The ShotGenerateRequest every generation of the batch is created from (as JSON).
    request: dict[str, Any] = json_field(default_factory=dict)
    only_missing: bool = False
    status: JobStatus = enum_field(JobStatus, default=JobStatus.PENDING, index=True)
    total: int = 0  # shots in the batch (counted at the start, settled at the end)
    completed: int = 0
    failed: int = 0
    cancelled: int = 0
    # Shots left alone: already approved (`only_missing`), or breaking a business rule
    # (services/generation_checks.py), the latter listed with the reason in `skipped_shots`
    # ({shot_id, reason}; the first MAX_SKIPPED_LISTED).
    skipped: int = 0
    skipped_shots: list[dict[str, str]] = json_field()
    workflow_id: str | None = Field(default=None, max_length=255)
    error_message: str | None = None
    started_at: datetime | None = tz_datetime()
    completed_at: datetime | None = tz_datetime()


class SkippedShot(SQLModel):
    shot_id: uuid.UUID
    reason: str


class ShootingGenerationPublic(RecordPublic, TenantPublic):
    shooting_id: uuid.UUID
    look_id: uuid.UUID | None
    requested_by: uuid.UUID | None
    request: dict[str, Any]
    only_missing: bool
    status: JobStatus
    total: int
    # Generations planned but not started yet, and running: live while the batch runs.
    pending: int = 0
    running: int = 0
    completed: int
    failed: int
    cancelled: int
    skipped: int
    skipped_shots: list[SkippedShot] = []
    workflow_id: str | None
    temporal_ui_url: str | None = None
    error_message: str | None
    started_at: datetime | None
    completed_at: datetime | None
