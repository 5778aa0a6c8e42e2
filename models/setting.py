"""Key/value application settings editable by superusers (e.g. `signup_enabled`)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects.postgresql import JSONB
from sqlmodel import Field, SQLModel

from models.base import utcnow


class AppSetting(SQLModel, table=True):
    __tablename__ = "app_setting"
    key: str = Field(primary_key=True, max_length=128)
    value: Any = Field(sa_type=JSONB, nullable=True)
    description: str | None = None
    updated_at: datetime = Field(
        default_factory=utcnow,
        sa_type=sa.DateTime(timezone=True),
        nullable=False,
        sa_column_kwargs={"onupdate": utcnow},
    )


# Body of PUT /admin/settings/{key}.
class AppSettingUpdate(SQLModel):
    value: Any
    description: str | None = Field(default=None, max_length=1000)


class AppSettingPublic(SQLModel):
    key: str
    value: Any
    description: str | None
    updated_at: datetime
