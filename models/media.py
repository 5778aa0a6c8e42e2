"""Media resources (content-addressed files), their attachments and deletion dead letters."""

from __future__ import annotations

import uuid
from datetime import datetime
from enum import StrEnum

import sqlalchemy as sa
from sqlmodel import Field, SQLModel

from models.base import (
    INT32_MAX,
    IdMixin,
    TenantMixin,
    TimestampMixin,
    enum_field,
    tz_datetime,
)


class ResourceType(StrEnum):
    IMAGE = "IMAGE"
    VIDEO = "VIDEO"


class EntityType(StrEnum):
    PRODUCT = "PRODUCT"
    SUBJECT = "SUBJECT"
    STYLE = "STYLE"
    SHOT_TYPE = "SHOT_TYPE"
    ORGANIZATION = "ORGANIZATION"
    PREDICTION = "PREDICTION"
    SHOT_REVISION = "SHOT_REVISION"
    OUTFIT = "OUTFIT"
    BACKGROUND_PRESET = "BACKGROUND_PRESET"


# The table. Dedup key: MD5 of the bytes, scoped per organization (per owner when personal).
class MediaResource(IdMixin, TimestampMixin, TenantMixin, table=True):
    __tablename__ = "media_resource"
    __table_args__ = (
        sa.Index(
            "uq_media_resource_organization_id_content_hash",
            "organization_id",
            "content_hash",
            unique=True,
            postgresql_where=sa.text("organization_id IS NOT NULL"),
        ),
        sa.Index(
            "uq_media_resource_owner_id_content_hash",
            "owner_id",
            "content_hash",
            unique=True,
            postgresql_where=sa.text("organization_id IS NULL"),
        ),
    )
    resource_type: ResourceType = enum_field(ResourceType, default=ResourceType.IMAGE)
    storage_key: str = Field(max_length=1024, unique=True)
    content_hash: str = Field(max_length=32, index=True)
    extension: str = Field(max_length=16)
    content_type: str | None = Field(default=None, max_length=128)
    file_size: int = Field(default=0, sa_type=sa.BigInteger)
    width: int | None = None
    height: int | None = None
    dominant_color: str | None = Field(default=None, max_length=16)
    protected: bool = False
    alt_text: str | None = None
    caption: str | None = None
    color_profile: str | None = Field(default=None, max_length=128)
    duration: float | None = None


# Links any entity to a media resource in a named slot.
class MediaResourceAttachment(IdMixin, table=True):
    __tablename__ = "media_resource_attachment"
    __table_args__ = (
        sa.Index(
            "uq_media_attachment_single_slot",
            "entity_type",
            "entity_id",
            "slot",
            unique=True,
            postgresql_where=sa.text("position IS NULL"),
        ),
        sa.Index(
            "uq_media_attachment_list_slot",
            "entity_type",
            "entity_id",
            "slot",
            "position",
            unique=True,
            postgresql_where=sa.text("position IS NOT NULL"),
        ),
        sa.Index("ix_media_attachment_entity", "entity_type", "entity_id"),
    )
    media_resource_id: uuid.UUID = Field(
        foreign_key="media_resource.id", ondelete="RESTRICT", index=True
    )
    entity_type: EntityType = enum_field(EntityType)
    entity_id: uuid.UUID
    slot: str = Field(max_length=64)
    position: int | None = None
    created_at: datetime = tz_datetime(nullable=False)


# An object whose deletion failed after the row was gone; retried on a schedule.
class MediaDeletionDeadLetter(IdMixin, table=True):
    __tablename__ = "media_deletion_dead_letter"
    storage_key: str = Field(max_length=1024, unique=True)
    media_resource_id: uuid.UUID | None = None
    error_message: str | None = None
    attempts: int = 0
    created_at: datetime = tz_datetime(nullable=False)
    last_attempted_at: datetime | None = tz_datetime()
    resolved_at: datetime | None = tz_datetime(index=True)


# Body of PATCH /media-resources/{id}: only empty fields are filled.
class MediaResourceUpdate(SQLModel):
    color_profile: str | None = Field(default=None, max_length=128)
    duration: float | None = Field(default=None, ge=0)
    dominant_color: str | None = Field(default=None, max_length=16)
    width: int | None = Field(default=None, ge=1, le=INT32_MAX)
    height: int | None = Field(default=None, ge=1, le=INT32_MAX)
    alt_text: str | None = Field(default=None, max_length=10_000)
    caption: str | None = Field(default=None, max_length=10_000)


class MediaResourcePublic(SQLModel):
    id: uuid.UUID
    organization_id: uuid.UUID | None
    resource_type: ResourceType
    content_hash: str
    extension: str
    content_type: str | None
    file_size: int
    width: int | None
    height: int | None
    dominant_color: str | None
    protected: bool
    alt_text: str | None
    caption: str | None
    color_profile: str | None
    duration: float | None
    created_at: datetime
    file_url: str | None = None


# An uploaded temp object (from POST /uploads/presigned-url) to attach to an entity slot.
class ImageUpload(SQLModel):
    # `pattern` through schema_extra: SQLModel's own `regex=` is silently dropped under
    # pydantic 2, which let an empty or foreign key through to the bucket (a 500). A key is
    # one `temp_key()` made: `temp/` and a sanitized name (other characters made S3 answer
    # 400 to the HEAD, another 500).
    slot: str = Field(default="cover_image", schema_extra={"pattern": r"^[a-z][a-z0-9_]{0,63}$"})
    key: str = Field(
        max_length=1024, schema_extra={"pattern": r"^temp/[A-Za-z0-9][A-Za-z0-9._-]*$"}
    )
    position: int | None = Field(default=None, ge=0, le=1000)


# An image attached to an entity, as the API shows it.
class AttachedImage(SQLModel):
    slot: str
    position: int | None
    media_resource_id: uuid.UUID
    file_url: str
    width: int | None = None
    height: int | None = None
