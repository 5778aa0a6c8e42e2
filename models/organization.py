"""Organizations and memberships (per-organization roles)."""

from __future__ import annotations

import uuid
from datetime import datetime
from enum import StrEnum

import sqlalchemy as sa
from sqlmodel import Field, SQLModel

from models.base import IdMixin, RecordPublic, TimestampMixin, enum_field


class OrgRole(StrEnum):
    OWNER = "owner"
    ADMIN = "admin"
    MEMBER = "member"


# Shared organization properties.
class OrganizationBase(SQLModel):
    name: str = Field(min_length=1, max_length=255)
    slug: str | None = Field(default=None, max_length=255)


# Body of POST /organizations/.
class OrganizationCreate(OrganizationBase):
    pass


# Body of PATCH /organizations/{id}.
class OrganizationUpdate(SQLModel):
    name: str | None = Field(default=None, min_length=1, max_length=255)
    slug: str | None = Field(default=None, max_length=255)


# The table.
class Organization(IdMixin, TimestampMixin, OrganizationBase, table=True):
    __tablename__ = "organization"
    slug: str | None = Field(default=None, max_length=255, unique=True)


# What the API returns.
class OrganizationPublic(RecordPublic, OrganizationBase):
    role: OrgRole | None = None


# A user's role in an organization.
class Membership(IdMixin, TimestampMixin, table=True):
    __tablename__ = "membership"
    __table_args__ = (sa.UniqueConstraint("organization_id", "user_id"),)
    organization_id: uuid.UUID = Field(
        foreign_key="organization.id", ondelete="CASCADE", index=True
    )
    user_id: uuid.UUID = Field(foreign_key="user.id", ondelete="CASCADE", index=True)
    role: OrgRole = enum_field(OrgRole, default=OrgRole.MEMBER)


# Body of PATCH /organizations/{id}/members/{user_id}.
class MemberUpdate(SQLModel):
    role: OrgRole


# A member as listed under an organization.
class MemberPublic(SQLModel):
    user_id: uuid.UUID
    email: str
    full_name: str | None
    role: OrgRole
    created_at: datetime
