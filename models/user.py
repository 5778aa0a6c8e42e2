"""Users and their refresh-token sessions."""

from __future__ import annotations

import uuid
from datetime import datetime

import sqlalchemy as sa
from pydantic import EmailStr
from sqlmodel import Field, SQLModel

from models.base import INT32_MAX, IdMixin, RecordPublic, TimestampMixin, tz_datetime


# Shared user properties.
class UserBase(SQLModel):
    email: EmailStr = Field(max_length=255)
    full_name: str | None = Field(default=None, max_length=255)
    is_active: bool = True
    is_superuser: bool = False


# Body of POST /admin/users (superuser).
class UserCreate(UserBase):
    password: str = Field(min_length=8, max_length=128)


# Body of POST /users/signup.
class UserRegister(SQLModel):
    email: EmailStr = Field(max_length=255)
    password: str = Field(min_length=8, max_length=128)
    full_name: str | None = Field(default=None, max_length=255)


# Body of PATCH /admin/users/{id} (superuser).
class UserUpdate(SQLModel):
    email: EmailStr | None = Field(default=None, max_length=255)
    full_name: str | None = Field(default=None, max_length=255)
    password: str | None = Field(default=None, min_length=8, max_length=128)
    is_active: bool | None = None
    is_superuser: bool | None = None
    rework_available: int | None = Field(default=None, ge=0, le=INT32_MAX)


# Body of PATCH /users/me; changing the password needs the current one.
class UserUpdateMe(SQLModel):
    email: EmailStr | None = Field(default=None, max_length=255)
    full_name: str | None = Field(default=None, max_length=255)
    current_password: str | None = Field(default=None, max_length=128)
    new_password: str | None = Field(default=None, min_length=8, max_length=128)


# The table ("user" is quoted by SQLAlchemy).
class User(IdMixin, TimestampMixin, UserBase, table=True):
    __tablename__ = "user"
    email: EmailStr = Field(max_length=255, unique=True, index=True, sa_type=sa.String(255))
    hashed_password: str
    rework_available: int = 0
    role: str | None = Field(default=None, max_length=32)


# What the API returns about a user (never the hash).
class UserPublic(RecordPublic, UserBase):
    rework_available: int = 0
    role: str | None = None


# One refresh token. Rotation keeps a family: reusing a rotated token revokes the family.
class UserSession(IdMixin, table=True):
    __tablename__ = "user_session"
    user_id: uuid.UUID = Field(foreign_key="user.id", ondelete="CASCADE", index=True)
    family_id: uuid.UUID = Field(index=True)
    token_hash: str = Field(max_length=64, unique=True)
    created_at: datetime = tz_datetime(nullable=False)
    expires_at: datetime = tz_datetime(nullable=False, index=True)
    rotated_at: datetime | None = tz_datetime()
    revoked_at: datetime | None = tz_datetime()
    user_agent: str | None = Field(default=None, max_length=512)


# Response of the login and refresh routes.
class Token(SQLModel):
    access_token: str
    token_type: str = "bearer"
    expires_in: int
    refresh_token: str | None = None
    refresh_expires_in: int | None = None


# Body of POST /login/refresh and POST /logout.
class RefreshRequest(SQLModel):
    refresh_token: str = Field(min_length=1, max_length=512)


# Body of POST /reset-password/.
class NewPassword(SQLModel):
    token: str = Field(min_length=1, max_length=2048)
    new_password: str = Field(min_length=8, max_length=128)
