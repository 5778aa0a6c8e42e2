"""Styles: visual aesthetics used as references for generation."""

from __future__ import annotations

from sqlmodel import Field, SQLModel

from models.base import IdMixin, RecordPublic, TenantMixin, TenantPublic, TimestampMixin
from models.media import AttachedImage, ImageUpload


# Shared style properties.
class StyleBase(SQLModel):
    name: str = Field(min_length=1, max_length=255)
    description: str | None = Field(default=None, max_length=10_000)
    prompt: str | None = Field(default=None, max_length=10_000)


# Body of POST /styles/.
class StyleCreate(StyleBase):
    images: list[ImageUpload] = Field(default_factory=list, max_length=20)
    pass


# Body of PATCH /styles/{id}.
class StyleUpdate(SQLModel):
    name: str | None = Field(default=None, min_length=1, max_length=255)
    description: str | None = Field(default=None, max_length=10_000)
    prompt: str | None = Field(default=None, max_length=10_000)


# The table.
class Style(IdMixin, TimestampMixin, TenantMixin, StyleBase, table=True):
    __tablename__ = "style"


# What the API returns.
class StylePublic(RecordPublic, TenantPublic, StyleBase):
    images: list[AttachedImage] = []
    pass
