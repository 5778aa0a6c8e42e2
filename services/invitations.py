"""Invitations: owners and admins invite an e-mail address, its owner accepts or declines.

Inviting answers the same whatever the address: no account, an account, a member already.
The invitation is matched to an account by e-mail only when its owner asks for it, so an
address invited before its signup sees the invitation once the account exists.
"""

from __future__ import annotations

import uuid
from datetime import datetime, timedelta

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from core.config import Settings
from models.base import utcnow
from models.invitation import Invitation, InvitationPublic, InvitationStatus
from models.organization import Membership, Organization, OrgRole
from models.user import User
from services import organizations
from services.errors import Conflict, Gone, NotFound
from services.tenancy import Scope
from services.users import normalize_email


def effective_status(invitation: Invitation, now: datetime | None = None) -> InvitationStatus:
    """`expired` for a pending invitation past its date (rows are not swept on the hour)."""
    if invitation.status == InvitationStatus.PENDING and invitation.expires_at <= (now or utcnow()):
        return InvitationStatus.EXPIRED
    return invitation.status


def to_public(invitation: Invitation, organization_name: str) -> InvitationPublic:
    return InvitationPublic(
        id=invitation.id,
        organization_id=invitation.organization_id,
        organization_name=organization_name,
        email=invitation.email,
        role=invitation.role,
        status=effective_status(invitation),
        expires_at=invitation.expires_at,
        created_at=invitation.created_at,
        responded_at=invitation.responded_at,
    )


async def invite(
    session: AsyncSession,
    settings: Settings,
    *,
    scope: Scope,
    organization_id: uuid.UUID,
    email: str,
    role: OrgRole,
) -> Invitation:
    """A pending invitation for the address, new or refreshed (role, inviter, expiry).

    Nothing here depends on whether the address has an account or is a member already:
    a member's invitation is accepted as a no-op. What the caller learns is only what it
    asked for.
    """
    scope = await organizations.lock(session, scope, organization_id)
    organizations.check_can_grant(scope, role)
    email = normalize_email(email)
    now = utcnow()
    expires_at = now + timedelta(days=settings.INVITATION_EXPIRE_DAYS)
    pending = await session.scalar(
        select(Invitation).where(
            Invitation.organization_id == organization_id,
            Invitation.email == email,
            Invitation.status == InvitationStatus.PENDING,
        )
    )
    if pending is not None and effective_status(pending, now) == InvitationStatus.PENDING:
        pending.role, pending.invited_by, pending.expires_at = role, scope.user_id, expires_at
        await session.flush()
        return pending
    if pending is not None:  # past its date: closed, so the index admits a new one
        pending.status = InvitationStatus.EXPIRED
        await session.flush()
    invitation = Invitation(
        organization_id=organization_id,
        email=email,
        role=role,
        invited_by=scope.user_id,
        expires_at=expires_at,
    )
    session.add(invitation)
    await session.flush()
    return invitation


def invitation_mail(
    settings: Settings, invitation: Invitation, organization_name: str
) -> tuple[str, str]:
    """Subject and plain-text body of the mail to the invited address."""
    # The name is tenant text: one line of it, never a header break.
    name = " ".join(organization_name.split())
    link = f"{settings.FRONTEND_HOST}/invitations/{invitation.id}"
    body = (
        f"You are invited to join {name} on {settings.PROJECT_NAME} as {invitation.role}.\n\n"
        f"Sign in (or sign up) with this address, {invitation.email}, and accept it:\n"
        f"{link}\n"
        f"(API: POST {settings.API_V1_STR}/invitations/{invitation.id}/accept, or /decline)\n\n"
        f"The invitation expires on {invitation.expires_at:%Y-%m-%d %H:%M} UTC. If you did "
        "not expect it, ignore this mail.\n"
    )
    return f"{settings.PROJECT_NAME} - invitation to join {name}", body


async def mail_for(
    session: AsyncSession, settings: Settings, invitation_id: uuid.UUID
) -> tuple[str, str, str] | None:
    """(to, subject, body) of the mail of a still open invitation; None once it is
    accepted, declined, revoked, expired or gone (a late mail must not invite anyone)."""
    row = (
        await session.execute(
            select(Invitation, Organization.name)
            .join(Organization, Organization.id == Invitation.organization_id)
            .where(Invitation.id == invitation_id)
        )
    ).first()
    if row is None or effective_status(row[0]) != InvitationStatus.PENDING:
        return None
    invitation, name = row
    return (invitation.email, *invitation_mail(settings, invitation, name))


async def list_for_organization(
    session: AsyncSession, *, scope: Scope, organization_id: uuid.UUID, skip: int, limit: int
) -> tuple[list[Invitation], int]:
    """Every invitation of the organization, newest first (owners and admins)."""
    scope.require_manager()
    where = Invitation.organization_id == organization_id
    rows = await session.scalars(
        select(Invitation)
        .where(where)
        .order_by(Invitation.created_at.desc(), Invitation.id)
        .offset(skip)
        .limit(limit)
    )
    count = await session.scalar(select(func.count()).select_from(Invitation).where(where))
    return list(rows), int(count or 0)


async def revoke(
    session: AsyncSession, *, scope: Scope, organization_id: uuid.UUID, invitation_id: uuid.UUID
) -> None:
    """Withdraw a pending invitation (owners and admins)."""
    scope = await organizations.lock(session, scope, organization_id)
    scope.require_manager()
    invitation = await session.scalar(
        select(Invitation).where(
            Invitation.id == invitation_id, Invitation.organization_id == organization_id
        )
    )
    if invitation is None:
        raise NotFound("Invitation not found")
    if invitation.status != InvitationStatus.PENDING:
        raise Conflict(f"The invitation is {invitation.status}, not pending")
    invitation.status, invitation.responded_at = InvitationStatus.REVOKED, utcnow()
    await session.flush()


async def list_for_user(session: AsyncSession, *, user: User) -> list[tuple[Invitation, str]]:
    """The user's pending, unexpired invitations (matched by e-mail), with the names of
    their organizations."""
    rows = await session.execute(
        select(Invitation, Organization.name)
        .join(Organization, Organization.id == Invitation.organization_id)
        .where(
            Invitation.email == normalize_email(user.email),
            Invitation.status == InvitationStatus.PENDING,
            Invitation.expires_at > utcnow(),
        )
        .order_by(Invitation.created_at.desc(), Invitation.id)
    )
    return [(invitation, name) for invitation, name in rows.all()]


async def _own_pending(
    session: AsyncSession, *, user: User, invitation_id: uuid.UUID
) -> tuple[Invitation, str]:
    """The user's invitation, locked (organization first), still pending and unexpired.

    Another address's invitation is a 404 like a missing one: its id proves nothing.
    """
    email = normalize_email(user.email)
    found = await session.scalar(
        select(Invitation.organization_id).where(
            Invitation.id == invitation_id, Invitation.email == email
        )
    )
    if found is None:
        raise NotFound("Invitation not found")
    await session.scalar(select(Organization.id).where(Organization.id == found).with_for_update())
    row = (
        await session.execute(
            select(Invitation, Organization.name)
            .join(Organization, Organization.id == Invitation.organization_id)
            .where(Invitation.id == invitation_id, Invitation.email == email)
            .with_for_update(of=Invitation)
            .execution_options(populate_existing=True)
        )
    ).first()
    if row is None:  # the organization went meanwhile, and its invitations with it
        raise NotFound("Invitation not found")
    invitation, name = row
    if invitation.status != InvitationStatus.PENDING:
        raise Conflict(f"The invitation is {invitation.status}, not pending")
    if effective_status(invitation) == InvitationStatus.EXPIRED:
        raise Gone("The invitation has expired; ask for a new one")
    return invitation, name


async def accept(
    session: AsyncSession, *, user: User, invitation_id: uuid.UUID
) -> tuple[Invitation, str]:
    """Join the organization with the invited role (a member already keeps its role)."""
    invitation, name = await _own_pending(session, user=user, invitation_id=invitation_id)
    member = await session.scalar(
        select(Membership.id).where(
            Membership.organization_id == invitation.organization_id,
            Membership.user_id == user.id,
        )
    )
    if member is None:
        session.add(
            Membership(
                organization_id=invitation.organization_id, user_id=user.id, role=invitation.role
            )
        )
    invitation.status, invitation.responded_at = InvitationStatus.ACCEPTED, utcnow()
    await session.flush()
    return invitation, name


async def decline(
    session: AsyncSession, *, user: User, invitation_id: uuid.UUID
) -> tuple[Invitation, str]:
    invitation, name = await _own_pending(session, user=user, invitation_id=invitation_id)
    invitation.status, invitation.responded_at = InvitationStatus.DECLINED, utcnow()
    await session.flush()
    return invitation, name
