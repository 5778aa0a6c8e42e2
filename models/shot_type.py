"""Shot types: framing and camera angle of an image; public (system) or private."""

from __future__ import annotations

from enum import StrEnum

from sqlmodel import Field, SQLModel

from models.base import (
    IdMixin,
    RecordPublic,
    TenantMixin,
    TenantPublic,
    TimestampMixin,
    enum_field,
)
from models.media import AttachedImage, ImageUpload


class Framing(StrEnum):
    FULL_BODY = "Full Body"
    UPPER_BODY = "Upper Body"
    LOWER_BODY = "Lower Body"
    UPPER_THREE_QUARTERS = "Upper Three Quarters"
    LOWER_THREE_QUARTERS = "Lower Three Quarters"
    DETAIL = "Detail"


class ViewAngle(StrEnum):
    FRONT = "Front"
    BACK = "Back"
    SIDE = "Side"


class Visibility(StrEnum):
    PUBLIC = "public"
    PRIVATE = "private"


# Shared shot type properties.
class ShotTypeBase(SQLModel):
    name: str = Field(min_length=1, max_length=255)
    description: str | None = Field(default=None, max_length=10_000)
    prompt: str | None = Field(default=None, max_length=10_000)
    framing: Framing | None = enum_field(Framing, default=None, nullable=True)
    view_angle: ViewAngle | None = enum_field(ViewAngle, default=None, nullable=True)


# Body of POST /shot-types/. Only superusers may create public shot types.
class ShotTypeCreate(ShotTypeBase):
    images: list[ImageUpload] = Field(default_factory=list, max_length=20)
    visibility: Visibility = Visibility.PRIVATE


# Body of PATCH /shot-types/{id}.
class ShotTypeUpdate(SQLModel):
    name: str | None = Field(default=None, min_length=1, max_length=255)
    description: str | None = Field(default=None, max_length=10_000)
    prompt: str | None = Field(default=None, max_length=10_000)
    framing: Framing | None = None
    view_angle: ViewAngle | None = None
    visibility: Visibility | None = None


# The table. Public rows are visible to everybody; private ones to their owner scope.
class ShotType(IdMixin, TimestampMixin, TenantMixin, ShotTypeBase, table=True):
    __tablename__ = "shot_type"
    visibility: Visibility = enum_field(Visibility, default=Visibility.PRIVATE, index=True)


# What the API returns.
class ShotTypePublic(RecordPublic, TenantPublic, ShotTypeBase):
    images: list[AttachedImage] = []
    visibility: Visibility
