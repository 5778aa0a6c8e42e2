"""Invitations: membership by the invitee's consent, addressed to an e-mail address."""

from __future__ import annotations

import uuid
from datetime import datetime
from enum import StrEnum

import sqlalchemy as sa
from pydantic import EmailStr
from sqlmodel import Field, SQLModel

from models.base import IdMixin, TimestampMixin, enum_field, tz_datetime
from models.organization import OrgRole


class InvitationStatus(StrEnum):
    PENDING = "pending"
    ACCEPTED = "accepted"
    DECLINED = "declined"
    REVOKED = "revoked"
    EXPIRED = "expired"


# The table. `email` is normalized (services.users.normalize_email): it is matched against
# the invitee's account, which need not exist yet (an address invited before its signup).
class Invitation(IdMixin, TimestampMixin, table=True):
    __tablename__ = "invitation"
    __table_args__ = (
        # At most one open invitation per address and organization: inviting again
        # refreshes it instead of piling up rows (and mails that each could be accepted).
        sa.Index(
            "uq_invitation_organization_id_email_pending",
            "organization_id",
            "email",
            unique=True,
            postgresql_where=sa.text("status = 'pending'"),
        ),
    )
    organization_id: uuid.UUID = Field(
        foreign_key="organization.id", ondelete="CASCADE", index=True
    )
    email: str = Field(max_length=255, index=True)
    role: OrgRole = enum_field(OrgRole, default=OrgRole.MEMBER)
    invited_by: uuid.UUID | None = Field(
        default=None, foreign_key="user.id", ondelete="SET NULL", index=True
    )
    status: InvitationStatus = enum_field(InvitationStatus, default=InvitationStatus.PENDING)
    expires_at: datetime = tz_datetime(nullable=False)
    responded_at: datetime | None = tz_datetime()


# Body of POST /organizations/{id}/members: invite an address.
class InvitationCreate(SQLModel):
    email: EmailStr = Field(max_length=255)
    role: OrgRole = OrgRole.MEMBER


# What the API returns, to the inviting managers and to the invitee alike. `status` reads
# `expired` for a pending invitation past `expires_at`.
class InvitationPublic(SQLModel):
    id: uuid.UUID
    organization_id: uuid.UUID
    organization_name: str
    email: str
    role: OrgRole
    status: InvitationStatus
    expires_at: datetime
    created_at: datetime
    responded_at: datetime | None = None
