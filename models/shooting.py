"""Shootings and their looks (one look = one outfit/setup producing a shot per shot type)."""

from __future__ import annotations

import uuid
from datetime import datetime

from sqlmodel import Field, SQLModel

from models.base import (
    FileFormat,
    IdMixin,
    RecordPublic,
    TenantMixin,
    TenantPublic,
    TimestampMixin,
    enum_field,
    tz_datetime,
)
from models.outfit import MAX_OUTFIT_PRODUCTS, MAX_REFERENCE_URLS, ReferenceUrl


# Shared shooting properties.
class ShootingBase(SQLModel):
    name: str = Field(min_length=1, max_length=255)
    description: str | None = Field(default=None, max_length=10_000)
    due_date: datetime | None = tz_datetime()
    archived: bool = False
    season: str | None = Field(default=None, max_length=128)
    collection: str | None = Field(default=None, max_length=128)
    brand: str | None = Field(default=None, max_length=128)
    default_guidelines_id: uuid.UUID | None = Field(
        default=None, foreign_key="guideline.id", ondelete="SET NULL"
    )


# Body of POST /shootings/.
class ShootingCreate(ShootingBase):
    pass


# Body of PATCH /shootings/{id}.
class ShootingUpdate(SQLModel):
    name: str | None = Field(default=None, min_length=1, max_length=255)
    description: str | None = Field(default=None, max_length=10_000)
    due_date: datetime | None = None
    archived: bool | None = None
    season: str | None = Field(default=None, max_length=128)
    collection: str | None = Field(default=None, max_length=128)
    brand: str | None = Field(default=None, max_length=128)
    default_guidelines_id: uuid.UUID | None = None


# The table.
class Shooting(IdMixin, TimestampMixin, TenantMixin, ShootingBase, table=True):
    __tablename__ = "shooting"


# What the API returns; `shot_status` aggregates the statuses of its shots.
class ShootingPublic(RecordPublic, TenantPublic, ShootingBase):
    shot_status: dict[str, int] = {}


# Shared look properties.
class ShootingLookBase(SQLModel):
    name: str | None = Field(default=None, max_length=255)
    subject_id: uuid.UUID | None = Field(
        default=None, foreign_key="subject.id", ondelete="SET NULL"
    )
    main_product_id: uuid.UUID | None = Field(
        default=None, foreign_key="product.id", ondelete="SET NULL"
    )
    second_product_id: uuid.UUID | None = Field(
        default=None, foreign_key="product.id", ondelete="SET NULL"
    )
    style_id: uuid.UUID | None = Field(default=None, foreign_key="style.id", ondelete="SET NULL")
    resolution_preset_id: uuid.UUID | None = Field(
        default=None, foreign_key="resolution_preset.id", ondelete="SET NULL"
    )
    width: int | None = Field(default=None, ge=64, le=8192)
    height: int | None = Field(default=None, ge=64, le=8192)
    background_preset_id: uuid.UUID | None = Field(
        default=None, foreign_key="background_preset.id", ondelete="SET NULL"
    )
    file_format: FileFormat | None = enum_field(FileFormat, default=None, nullable=True)
    # The look's outfit (models/outfit.py); deleting the outfit unsets it.
    outfit_id: uuid.UUID | None = Field(
        default=None, foreign_key="outfit.id", ondelete="SET NULL", index=True
    )


DEPRECATED = {"json_schema_extra": {"deprecated": True}}


# Deprecated (one release): the look's outfit given inline, as before outfits were their own
# resource. Given, they create the look's outfit or edit it (services/looks.py); new clients
# send `outfit_id` (POST /outfits/).
class LegacyOutfitFields(SQLModel):
    outfit_product_ids: list[uuid.UUID] | None = Field(
        default=None, max_length=MAX_OUTFIT_PRODUCTS, schema_extra=DEPRECATED
    )
    outfit_reference_urls: list[ReferenceUrl] | None = Field(
        default=None, max_length=MAX_REFERENCE_URLS, schema_extra=DEPRECATED
    )
    outfit_instruction: str | None = Field(default=None, max_length=10_000, schema_extra=DEPRECATED)


# Body of POST /shootings/{id}/looks: one shot is created per shot type; guidelines in
# order (the first one's settings win).
class ShootingLookCreate(LegacyOutfitFields, ShootingLookBase):
    shot_type_ids: list[uuid.UUID] = Field(default_factory=list, max_length=100)
    guidelines: list[uuid.UUID] = Field(default_factory=list, max_length=50)


# Body of PATCH /shooting-looks/{id}; new shot types add shots, removed ones delete them.
class ShootingLookUpdate(LegacyOutfitFields):
    name: str | None = Field(default=None, max_length=255)
    subject_id: uuid.UUID | None = None
    main_product_id: uuid.UUID | None = None
    second_product_id: uuid.UUID | None = None
    style_id: uuid.UUID | None = None
    resolution_preset_id: uuid.UUID | None = None
    width: int | None = Field(default=None, ge=64, le=8192)
    height: int | None = Field(default=None, ge=64, le=8192)
    background_preset_id: uuid.UUID | None = None
    file_format: FileFormat | None = None
    outfit_id: uuid.UUID | None = None
    shot_type_ids: list[uuid.UUID] | None = Field(default=None, max_length=100)
    guidelines: list[uuid.UUID] | None = Field(default=None, max_length=50)


# The table; tenancy columns are copied from the shooting so scoped queries stay flat.
class ShootingLook(IdMixin, TimestampMixin, TenantMixin, ShootingLookBase, table=True):
    __tablename__ = "shooting_look"
    shooting_id: uuid.UUID = Field(foreign_key="shooting.id", ondelete="CASCADE", index=True)
    position: int = 0


# Guidelines used by a look (many-to-many), in order: the first has precedence.
class ShootingLookGuideline(SQLModel, table=True):
    __tablename__ = "shooting_look_guideline"
    look_id: uuid.UUID = Field(foreign_key="shooting_look.id", ondelete="CASCADE", primary_key=True)
    guideline_id: uuid.UUID = Field(
        foreign_key="guideline.id", ondelete="CASCADE", primary_key=True, index=True
    )
    position: int = 0


# What the API returns.
class ShootingLookPublic(RecordPublic, TenantPublic, ShootingLookBase):
    shooting_id: uuid.UUID
    position: int
    shot_type_ids: list[uuid.UUID] = []
    guidelines: list[uuid.UUID] = []
    shot_ids: list[uuid.UUID] = []
    # Deprecated (one release): the look's outfit's contents, as the inline fields were.
    outfit_product_ids: list[uuid.UUID] = []
    outfit_reference_urls: list[str] = []
    outfit_instruction: str | None = None
