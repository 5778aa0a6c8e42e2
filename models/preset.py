"""Background and resolution presets; system presets have no owner and are visible to all."""

from __future__ import annotations

from sqlmodel import Field, SQLModel

from models.base import IdMixin, RecordPublic, TenantMixin, TenantPublic, TimestampMixin


# Shared resolution preset properties.
class ResolutionPresetBase(SQLModel):
    name: str = Field(min_length=1, max_length=255)
    width: int = Field(ge=64, le=8192)
    height: int = Field(ge=64, le=8192)


# Body of POST /resolution-presets/.
class ResolutionPresetCreate(ResolutionPresetBase):
    pass


# Body of PATCH /resolution-presets/{id}.
class ResolutionPresetUpdate(SQLModel):
    name: str | None = Field(default=None, min_length=1, max_length=255)
    width: int | None = Field(default=None, ge=64, le=8192)
    height: int | None = Field(default=None, ge=64, le=8192)


# The table.
class ResolutionPreset(IdMixin, TimestampMixin, TenantMixin, ResolutionPresetBase, table=True):
    __tablename__ = "resolution_preset"
    is_system: bool = False


# What the API returns.
class ResolutionPresetPublic(RecordPublic, TenantPublic, ResolutionPresetBase):
    is_system: bool


# Shared background preset properties.
class BackgroundPresetBase(SQLModel):
    name: str = Field(min_length=1, max_length=255)
    description: str | None = Field(default=None, max_length=10_000)
    prompt: str | None = Field(default=None, max_length=10_000)
    color: str | None = Field(default=None, max_length=32)


# Body of POST /background-presets/.
class BackgroundPresetCreate(BackgroundPresetBase):
    pass


# Body of PATCH /background-presets/{id}.
class BackgroundPresetUpdate(SQLModel):
    name: str | None = Field(default=None, min_length=1, max_length=255)
    description: str | None = Field(default=None, max_length=10_000)
    prompt: str | None = Field(default=None, max_length=10_000)
    color: str | None = Field(default=None, max_length=32)


# The table.
class BackgroundPreset(IdMixin, TimestampMixin, TenantMixin, BackgroundPresetBase, table=True):
    __tablename__ = "background_preset"
    is_system: bool = False


# What the API returns.
class BackgroundPresetPublic(RecordPublic, TenantPublic, BackgroundPresetBase):
    is_system: bool
