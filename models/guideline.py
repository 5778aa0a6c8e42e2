"""Shooting guidelines: technical spec (format, resolution, poses, shot-type rules)."""

from __future__ import annotations

import uuid
from datetime import datetime

import sqlalchemy as sa
from sqlmodel import Field, SQLModel

from models.base import (
    FileFormat,
    IdMixin,
    RecordPublic,
    TenantMixin,
    TenantPublic,
    TimestampMixin,
    enum_field,
)


# One pose of a guideline.
class PosePresetBase(SQLModel):
    name: str = Field(min_length=1, max_length=255)
    prompt: str | None = Field(default=None, max_length=10_000)


# Shared guideline properties.
class GuidelineBase(SQLModel):
    name: str = Field(min_length=1, max_length=255)
    description: str | None = Field(default=None, max_length=10_000)
    file_format: FileFormat = enum_field(FileFormat, default=FileFormat.JPG)
    resolution_preset_id: uuid.UUID | None = Field(
        default=None, foreign_key="resolution_preset.id", ondelete="SET NULL"
    )
    background_preset_id: uuid.UUID | None = Field(
        default=None, foreign_key="background_preset.id", ondelete="SET NULL"
    )
    set_design: str | None = Field(default=None, max_length=10_000)


# Body of POST /guidelines/.
class GuidelineCreate(GuidelineBase):
    subject_ids: list[uuid.UUID] = Field(default_factory=list, max_length=500)
    pose_presets: list[PosePresetBase] = Field(default_factory=list, max_length=100)


# Body of PATCH /guidelines/{id}; lists, when given, replace the current ones.
class GuidelineUpdate(SQLModel):
    name: str | None = Field(default=None, min_length=1, max_length=255)
    description: str | None = Field(default=None, max_length=10_000)
    file_format: FileFormat | None = None
    resolution_preset_id: uuid.UUID | None = None
    background_preset_id: uuid.UUID | None = None
    set_design: str | None = Field(default=None, max_length=10_000)
    subject_ids: list[uuid.UUID] | None = Field(default=None, max_length=500)
    pose_presets: list[PosePresetBase] | None = Field(default=None, max_length=100)


# The table.
class Guideline(IdMixin, TimestampMixin, TenantMixin, GuidelineBase, table=True):
    __tablename__ = "guideline"


# Allowed subjects of a guideline (many-to-many).
class GuidelineSubject(SQLModel, table=True):
    __tablename__ = "guideline_subject"
    guideline_id: uuid.UUID = Field(
        foreign_key="guideline.id", ondelete="CASCADE", primary_key=True
    )
    subject_id: uuid.UUID = Field(
        foreign_key="subject.id", ondelete="CASCADE", primary_key=True, index=True
    )


# A pose preset row, owned by its guideline.
class PosePreset(IdMixin, TimestampMixin, PosePresetBase, table=True):
    __tablename__ = "pose_preset"
    guideline_id: uuid.UUID = Field(foreign_key="guideline.id", ondelete="CASCADE", index=True)
    position: int = 0


class PosePresetPublic(PosePresetBase):
    id: uuid.UUID


# What the API returns.
class GuidelinePublic(RecordPublic, TenantPublic, GuidelineBase):
    subject_ids: list[uuid.UUID] = []
    pose_presets: list[PosePresetPublic] = []


# Body of POST /guidelines/{id}/shot-type-rules/ (and one item of bulk-replace).
class ShotTypeRuleCreate(SQLModel):
    rule_kind: str = Field(min_length=1, max_length=64)
    rule_value: str = Field(max_length=10_000)
    shot_type_id: uuid.UUID | None = None


# A rule of a guideline for a shot type (e.g. PLACEMENT).
class GuidelineShotTypeRule(IdMixin, TimestampMixin, table=True):
    __tablename__ = "guideline_shot_type_rule"
    __table_args__ = (sa.Index("ix_guideline_rule_guideline_kind", "guideline_id", "rule_kind"),)
    guideline_id: uuid.UUID = Field(foreign_key="guideline.id", ondelete="CASCADE", index=True)
    rule_kind: str = Field(max_length=64)
    rule_value: str
    shot_type_id: uuid.UUID | None = Field(
        default=None, foreign_key="shot_type.id", ondelete="CASCADE", index=True
    )


# A rule as the API returns it.
class ShotTypeRulePublic(SQLModel):
    id: uuid.UUID
    guidelines_id: uuid.UUID
    rule_kind: str
    rule_value: str
    shot_type_id: uuid.UUID | None
    created_at: datetime
    updated_at: datetime


# Body of PUT /guidelines/{id}/shot-type-rules/bulk-replace.
class ShotTypeRulesReplace(SQLModel):
    rules: list[ShotTypeRuleCreate] = Field(max_length=1000)


# Rules grouped by shot type, then by kind.
class ShotTypeRuleGroup(SQLModel):
    shot_type_id: uuid.UUID | None
    rules: dict[str, list[str]]
