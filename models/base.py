"""Shared pieces of every table: ids, timestamps, tenancy columns, enums, list envelope."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from enum import StrEnum
from typing import Any, Generic, TypeVar

import sqlalchemy as sa
from pydantic import BaseModel
from sqlalchemy.dialects.postgresql import JSONB
from sqlmodel import Field, SQLModel

# Stable constraint names, so Alembic autogenerate and hand-written migrations agree.
SQLModel.metadata.naming_convention = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}

# The largest value of a Postgres `integer` column: request fields stored in one are bounded
# by it, so an oversized number is a 422 rather than an encoding error at the database.
INT32_MAX = 2**31 - 1


def utcnow() -> datetime:
    return datetime.now(UTC)


def tz_datetime(*, nullable: bool = True, index: bool = False, **kwargs: Any) -> Any:
    """A timezone-aware timestamp column (every timestamp we store is UTC)."""
    if nullable:
        kwargs.setdefault("default", None)
    return Field(sa_type=sa.DateTime(timezone=True), nullable=nullable, index=index, **kwargs)


def enum_field(enum: type[StrEnum], default: Any = ..., **kwargs: Any) -> Any:
    """Enums are stored as short strings (no native PG enum: adding a value needs no DDL)."""
    return Field(
        default=default,
        sa_type=sa.Enum(
            enum,
            native_enum=False,
            length=32,
            values_callable=lambda members: [m.value for m in members],
            validate_strings=True,
        ),
        **kwargs,
    )


class IdMixin(SQLModel):
    id: uuid.UUID = Field(default_factory=uuid.uuid4, primary_key=True)


class TimestampMixin(SQLModel):
    created_at: datetime = Field(
        default_factory=utcnow, sa_type=sa.DateTime(timezone=True), nullable=False
    )
    updated_at: datetime = Field(
        default_factory=utcnow,
        sa_type=sa.DateTime(timezone=True),
        nullable=False,
        sa_column_kwargs={"onupdate": utcnow},
    )


class TenantMixin(SQLModel):
    """Org-owned rows: `organization_id` NULL means a personal resource of `owner_id`."""

    organization_id: uuid.UUID | None = Field(
        default=None, foreign_key="organization.id", index=True, ondelete="CASCADE"
    )
    owner_id: uuid.UUID | None = Field(
        default=None, foreign_key="user.id", index=True, ondelete="SET NULL"
    )


class TenantPublic(SQLModel):
    organization_id: uuid.UUID | None = None
    owner_id: uuid.UUID | None = None


class RecordPublic(SQLModel):
    id: uuid.UUID
    created_at: datetime
    updated_at: datetime


T = TypeVar("T")


class Page(BaseModel, Generic[T]):
    """The list envelope of every collection route."""

    data: list[T]
    count: int


class Message(SQLModel):
    message: str


class FileFormat(StrEnum):
    JPG = "jpg"
    PNG = "png"
    WEBP = "webp"


def json_field(default_factory: Any = list, **kwargs: Any) -> Any:
    return Field(default_factory=default_factory, sa_type=JSONB, nullable=False, **kwargs)


PublicT = TypeVar("PublicT", bound=SQLModel)


def public_view(public: type[PublicT], row: SQLModel | sa.Row[Any], **update: Any) -> PublicT:
    """`public.model_validate(row, update=update)` without SQLModel's attribute wrapper: the
    row's values for the public schema's fields, validated by pydantic-core directly (about
    half the cost per row, which adds up on a page of 50: list routes are CPU-bound). `row`
    is a mapped object or a plain result row of its table's columns."""
    if isinstance(row, sa.Row):
        fields = public.model_fields
        data = {k: v for k, v in row._mapping.items() if k in fields and k not in update}
        data.update(update)
        return public.__pydantic_validator__.validate_python(data)  # type: ignore[no-any-return]
    names = _shared_fields(public, type(row))
    data = {name: getattr(row, name) for name in names if name not in update}
    data.update(update)
    return public.__pydantic_validator__.validate_python(data)  # type: ignore[no-any-return]


_SHARED: dict[tuple[type, type], tuple[str, ...]] = {}


def _shared_fields(public: type[SQLModel], table: type[SQLModel]) -> tuple[str, ...]:
    key = (public, table)
    if key not in _SHARED:
        # Columns, relationships and properties alike: what from_attributes would read.
        _SHARED[key] = tuple(name for name in public.model_fields if hasattr(table, name))
    return _SHARED[key]
