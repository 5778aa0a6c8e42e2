"""Generation models (DOMAIN §1.8): the AI models a generation may run on, with the provider
that runs them, the tool types they can do (docs/generation_rules.md maps strategies onto
them), their output limits and their defaults. A global catalogue: everybody signed in reads
it, superusers write it. A model some generation used is retired, never deleted."""

from __future__ import annotations

import json
from datetime import datetime
from enum import StrEnum
from typing import Annotated, Any

import sqlalchemy as sa
from pydantic import (
    BaseModel,
    ConfigDict,
    StrictFloat,
    StrictInt,
    StringConstraints,
    field_validator,
)
from pydantic import Field as PydanticField
from sqlmodel import Field, SQLModel

from models.base import FileFormat, IdMixin, RecordPublic, TimestampMixin, json_field, tz_datetime

MAX_CONFIG_CHARS = 10_000  # a provider config as JSON
# The model generations get when their request names none (seeded by migration 0007).
DEFAULT_MODEL_NAME = "sartiq-standard"


class ToolType(StrEnum):
    """What a model can do; services/generation_checks.py maps each strategy onto these."""

    BASE_GENERATION = "BASE_GENERATION"
    IMAGE_EDITING = "IMAGE_EDITING"
    UPSCALING = "UPSCALING"
    VIDEO_GENERATION = "VIDEO_GENERATION"
    BACKGROUND_FIXING = "BACKGROUND_FIXING"
    FACE_FIXING = "FACE_FIXING"
    IMAGE_ADJUSTING = "IMAGE_ADJUSTING"


# Provider names travel to Compute as routing keys: short, lowercase, no spaces.
ProviderName = Annotated[str, StringConstraints(pattern=r"^[a-z0-9][a-z0-9_.-]{0,63}$")]
Capability = Annotated[str, StringConstraints(min_length=1, max_length=64)]


class ModelDefaults(BaseModel):
    """`defaults`: what a generation on this model uses when neither the look nor its
    guidelines say (the last step of the precedence in docs/generation_rules.md)."""

    model_config = ConfigDict(extra="forbid")

    width: StrictInt | None = PydanticField(default=None, ge=64, le=8192)
    height: StrictInt | None = PydanticField(default=None, ge=64, le=8192)
    format: FileFormat | None = None
    negative_prompt: str | None = PydanticField(default=None, max_length=4_000)
    num_inference_steps: StrictInt | None = PydanticField(default=None, ge=1, le=500)
    guidance_scale: StrictFloat | StrictInt | None = PydanticField(default=None, ge=0, le=100)


def _bounded_config(cls: type, config: dict[str, Any] | None) -> dict[str, Any] | None:
    if config is not None and len(json.dumps(config, default=str)) > MAX_CONFIG_CHARS:
        raise ValueError(f"is larger than {MAX_CONFIG_CHARS} characters as JSON")
    return config


# Scalar properties shared by the table and the API schemas.
class GenerationModelFields(SQLModel):
    name: str = Field(min_length=1, max_length=128, unique=True)
    description: str | None = Field(default=None, max_length=10_000)
    icon: str | None = Field(default=None, max_length=2048)
    provider: str = Field(max_length=64)
    fallback_provider: str | None = Field(default=None, max_length=64)
    recommended: bool = False
    beta: bool = False
    max_output_width: int | None = Field(default=None, ge=64, le=65_536)
    max_output_height: int | None = Field(default=None, ge=64, le=65_536)
    max_size_pixels: int | None = Field(default=None, ge=4096, le=2**31 - 1)
    is_default: bool = False


class _TypedLists(SQLModel):
    """The JSON columns as the API takes them: typed, bounded."""

    provider: ProviderName
    fallback_provider: ProviderName | None = None
    provider_capabilities: list[Capability] = Field(default_factory=list, max_length=50)
    fallback_provider_capabilities: list[Capability] = Field(default_factory=list, max_length=50)
    tool_types: list[ToolType] = Field(default_factory=list, max_length=20)
    defaults: ModelDefaults = Field(default_factory=ModelDefaults)


# Body of POST /generation-models/ (superuser).
class GenerationModelCreate(_TypedLists, GenerationModelFields):
    provider_config: dict[str, Any] = Field(default_factory=dict)
    fallback_provider_config: dict[str, Any] = Field(default_factory=dict)

    _bounded = field_validator("provider_config", "fallback_provider_config")(_bounded_config)


# Body of PATCH/PUT /generation-models/{id} (superuser); `is_active` true un-retires.
class GenerationModelUpdate(SQLModel):
    name: str | None = Field(default=None, min_length=1, max_length=128)
    description: str | None = Field(default=None, max_length=10_000)
    icon: str | None = Field(default=None, max_length=2048)
    provider: ProviderName | None = None
    fallback_provider: ProviderName | None = None
    provider_capabilities: list[Capability] | None = Field(default=None, max_length=50)
    fallback_provider_capabilities: list[Capability] | None = Field(default=None, max_length=50)
    provider_config: dict[str, Any] | None = None
    fallback_provider_config: dict[str, Any] | None = None
    tool_types: list[ToolType] | None = Field(default=None, max_length=20)
    recommended: bool | None = None
    beta: bool | None = None
    max_output_width: int | None = Field(default=None, ge=64, le=65_536)
    max_output_height: int | None = Field(default=None, ge=64, le=65_536)
    max_size_pixels: int | None = Field(default=None, ge=4096, le=2**31 - 1)
    defaults: ModelDefaults | None = None
    is_default: bool | None = None
    is_active: bool | None = None

    _bounded = field_validator("provider_config", "fallback_provider_config")(_bounded_config)


# The table. At most one default model (a partial unique index).
class GenerationModel(IdMixin, TimestampMixin, GenerationModelFields, table=True):
    __tablename__ = "generation_model"
    __table_args__ = (
        sa.Index(
            "uq_generation_model_is_default",
            "is_default",
            unique=True,
            postgresql_where=sa.text("is_default"),
        ),
    )
    provider_config: dict[str, Any] = json_field(default_factory=dict)
    provider_capabilities: list[str] = json_field()
    fallback_provider_config: dict[str, Any] = json_field(default_factory=dict)
    fallback_provider_capabilities: list[str] = json_field()
    tool_types: list[str] = json_field()
    defaults: dict[str, Any] = json_field(default_factory=dict)
    is_active: bool = True
    retired_at: datetime | None = tz_datetime()


# What the API returns; the provider configs only to superusers (they are operations'
# settings, not something a brand needs to choose a model).
class GenerationModelPublic(RecordPublic, _TypedLists, GenerationModelFields):
    provider: str
    fallback_provider: str | None = None
    is_active: bool
    retired_at: datetime | None
    provider_config: dict[str, Any] | None = None
    fallback_provider_config: dict[str, Any] | None = None
