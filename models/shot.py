"""Shots (one deliverable image per shot type of a look) and their revisions."""

from __future__ import annotations

import uuid
from datetime import datetime
from enum import StrEnum

import sqlalchemy as sa
from sqlmodel import Field, SQLModel

from models.base import (
    INT32_MAX,
    IdMixin,
    RecordPublic,
    TenantMixin,
    TenantPublic,
    TimestampMixin,
    enum_field,
    tz_datetime,
)


class RevisionStatus(StrEnum):
    PENDING = "pending"
    IN_REVIEW = "in_review"
    APPROVED = "approved"
    REJECTED = "rejected"


# The table. The shot's status is its current revision's status.
class Shot(IdMixin, TimestampMixin, TenantMixin, table=True):
    __tablename__ = "shot"
    __table_args__ = (sa.UniqueConstraint("look_id", "shot_type_id"),)
    shooting_id: uuid.UUID = Field(foreign_key="shooting.id", ondelete="CASCADE", index=True)
    look_id: uuid.UUID = Field(foreign_key="shooting_look.id", ondelete="CASCADE", index=True)
    shot_type_id: uuid.UUID = Field(foreign_key="shot_type.id", ondelete="RESTRICT", index=True)
    # use_alter: shot and shot_revision reference each other.
    current_revision_id: uuid.UUID | None = Field(
        default=None,
        sa_column=sa.Column(
            sa.Uuid,
            sa.ForeignKey("shot_revision.id", ondelete="SET NULL", use_alter=True),
            nullable=True,
        ),
    )
    position: int = 0
    notes: str | None = Field(default=None, max_length=10_000)
    exported_at: datetime | None = tz_datetime()


# Body of PATCH /shots/{id}.
class ShotUpdate(SQLModel):
    notes: str | None = Field(default=None, max_length=10_000)
    position: int | None = Field(default=None, ge=0, le=INT32_MAX)
    current_revision_id: uuid.UUID | None = None


# Body of POST /shots/{id}/approve and /reject.
class ReviewDecision(SQLModel):
    notes: str | None = Field(default=None, max_length=10_000)


# One version of a shot's image(s).
class ShotRevision(IdMixin, TimestampMixin, table=True):
    __tablename__ = "shot_revision"
    __table_args__ = (sa.UniqueConstraint("shot_id", "version"),)
    shot_id: uuid.UUID = Field(foreign_key="shot.id", ondelete="CASCADE", index=True)
    version: int = Field(ge=1)
    status: RevisionStatus = enum_field(RevisionStatus, default=RevisionStatus.PENDING)
    notes: str | None = Field(default=None, max_length=10_000)
    generation_id: uuid.UUID | None = Field(
        default=None, foreign_key="generation.id", ondelete="SET NULL", index=True
    )
    reviewed_at: datetime | None = tz_datetime()
    reviewed_by_id: uuid.UUID | None = Field(
        default=None, foreign_key="user.id", ondelete="SET NULL"
    )


class ShotRevisionPublic(RecordPublic):
    shot_id: uuid.UUID
    version: int
    status: RevisionStatus
    notes: str | None
    generation_id: uuid.UUID | None
    reviewed_at: datetime | None
    media_resource_ids: list[uuid.UUID] = []
    # Signed URLs of those images for <img src>, in the same order (core/file_urls.py).
    file_urls: list[str] = []


# What the API returns.
class ShotPublic(RecordPublic, TenantPublic):
    shooting_id: uuid.UUID
    look_id: uuid.UUID
    shot_type_id: uuid.UUID
    current_revision_id: uuid.UUID | None
    position: int
    notes: str | None
    exported_at: datetime | None
    status: RevisionStatus
    current_revision: ShotRevisionPublic | None = None
