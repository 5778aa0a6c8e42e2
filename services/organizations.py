"""Organizations and their members, with the owner/admin/member rules."""

from __future__ import annotations

import uuid

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from models.organization import (
    MemberPublic,
    Membership,
    Organization,
    OrganizationCreate,
    OrganizationPublic,
    OrganizationUpdate,
    OrgRole,
)
from models.user import User
from services import attachments
from services.errors import BadRequest, Conflict, Forbidden, NotFound
from services.repository import apply_update
from services.tenancy import Scope, membership_role, resolve_scope


def to_public(org: Organization, role: OrgRole | None) -> OrganizationPublic:
    return OrganizationPublic.model_validate(org, update={"role": role})


async def create(session: AsyncSession, *, user: User, data: OrganizationCreate) -> Organization:
    """A new organization whose creator is its owner."""
    if data.slug and await session.scalar(
        select(Organization.id).where(Organization.slug == data.slug)
    ):
        raise Conflict("An organization with this slug already exists")
    org = Organization(**data.model_dump())
    session.add(org)
    await session.flush()
    session.add(Membership(organization_id=org.id, user_id=user.id, role=OrgRole.OWNER))
    await session.flush()
    return org


async def list_for_user(
    session: AsyncSession, *, user: User, skip: int, limit: int
) -> tuple[list[tuple[Organization, OrgRole | None]], int]:
    """The caller's organizations with its role in each (superusers: every organization)."""
    role = (
        select(Membership.role)
        .where(Membership.organization_id == Organization.id, Membership.user_id == user.id)
        .scalar_subquery()
    )
    query = select(Organization, role)
    count = select(func.count()).select_from(Organization)
    if not user.is_superuser:
        mine = Organization.id.in_(
            select(Membership.organization_id).where(Membership.user_id == user.id)
        )
        query, count = query.where(mine), count.where(mine)
    rows = await session.execute(
        query.order_by(Organization.name, Organization.id).offset(skip).limit(limit)
    )
    return [(org, r) for org, r in rows.all()], int(await session.scalar(count) or 0)


async def get_in_scope(
    session: AsyncSession, *, user: User, organization_id: uuid.UUID
) -> tuple[Organization, Scope]:
    scope = await resolve_scope(session, user=user, organization_id=organization_id)
    org = await session.get(Organization, organization_id)
    if org is None:
        raise NotFound("Organization not found")
    return org, scope


async def update(
    session: AsyncSession, org: Organization, scope: Scope, data: OrganizationUpdate
) -> Organization:
    scope.require_manager()
    if (
        data.slug
        and data.slug != org.slug
        and await session.scalar(select(Organization.id).where(Organization.slug == data.slug))
    ):
        raise Conflict("An organization with this slug already exists")
    apply_update(org, data)
    await session.flush()
    return org


async def delete(session: AsyncSession, org: Organization, scope: Scope) -> None:
    """Everything the organization owns goes with it (database cascades): the attachments
    of all of it first, and its media are released to the orphan scan, which deletes their
    objects (services/attachments.py)."""
    if not (scope.is_superuser or scope.role == OrgRole.OWNER):
        raise Forbidden("Only an owner can delete the organization")
    await attachments.detach_all(session, Organization, [org.id])
    await attachments.release_organization_media(session, org.id)
    await session.delete(org)


async def list_members(session: AsyncSession, organization_id: uuid.UUID) -> list[MemberPublic]:
    rows = await session.execute(
        select(Membership, User)
        .join(User, User.id == Membership.user_id)
        .where(Membership.organization_id == organization_id)
        .order_by(Membership.created_at, User.email)
    )
    return [
        MemberPublic(
            user_id=u.id, email=u.email, full_name=u.full_name, role=m.role, created_at=m.created_at
        )
        for m, u in rows.all()
    ]


def check_can_grant(scope: Scope, role: OrgRole) -> None:
    scope.require_manager()
    if role == OrgRole.OWNER and not (scope.is_superuser or scope.role == OrgRole.OWNER):
        raise Forbidden("Only an owner can make someone an owner")


async def _membership(
    session: AsyncSession, organization_id: uuid.UUID, user_id: uuid.UUID
) -> Membership:
    member = await session.scalar(
        select(Membership).where(
            Membership.organization_id == organization_id, Membership.user_id == user_id
        )
    )
    if member is None:
        raise NotFound("Member not found")
    return member


async def lock(session: AsyncSession, scope: Scope, organization_id: uuid.UUID) -> Scope:
    """Lock the organization's row for the rest of the transaction and return the caller's
    scope as it is now.

    Every change to an organization's memberships and invitations takes this lock first
    (one lock order: organization, then invitation, then membership), so they run one after
    the other: two owners leaving or demoting each other at once cannot both see "another
    owner is left". The caller's role is read again under the lock, since the transaction
    that held it may just have changed it.
    """
    locked = await session.scalar(
        select(Organization.id).where(Organization.id == organization_id).with_for_update()
    )
    if locked is None:
        raise NotFound("Organization not found")
    role = await membership_role(session, user_id=scope.user_id, organization_id=organization_id)
    if role is None and not scope.is_superuser:
        raise NotFound("Organization not found")
    return Scope(scope.user_id, organization_id, role, scope.is_superuser)


async def _owner_count(session: AsyncSession, organization_id: uuid.UUID) -> int:
    return int(
        await session.scalar(
            select(func.count()).where(
                Membership.organization_id == organization_id, Membership.role == OrgRole.OWNER
            )
        )
        or 0
    )


async def change_role(
    session: AsyncSession,
    *,
    scope: Scope,
    organization_id: uuid.UUID,
    user_id: uuid.UUID,
    role: OrgRole,
) -> Membership:
    scope = await lock(session, scope, organization_id)
    check_can_grant(scope, role)
    member = await _membership(session, organization_id, user_id)
    if member.role == OrgRole.OWNER and role != OrgRole.OWNER:
        if not (scope.is_superuser or scope.role == OrgRole.OWNER):
            raise Forbidden("Only an owner can change an owner's role")
        if await _owner_count(session, organization_id) <= 1:
            raise BadRequest("An organization needs at least one owner")
    member.role = role
    await session.flush()
    return member


async def remove_member(
    session: AsyncSession, *, scope: Scope, organization_id: uuid.UUID, user_id: uuid.UUID
) -> None:
    """Owners/admins remove members; anybody may leave; the last owner cannot go."""
    scope = await lock(session, scope, organization_id)
    if user_id != scope.user_id:
        scope.require_manager()
    member = await _membership(session, organization_id, user_id)
    if member.role == OrgRole.OWNER:
        if user_id != scope.user_id and not (scope.is_superuser or scope.role == OrgRole.OWNER):
            raise Forbidden("Only an owner can remove an owner")
        if await _owner_count(session, organization_id) <= 1:
            raise BadRequest("An organization needs at least one owner")
    await session.delete(member)


async def organization_ids_of(session: AsyncSession, user_id: uuid.UUID) -> list[uuid.UUID]:
    """Ids of every organization the user belongs to."""
    rows = await session.scalars(
        select(Membership.organization_id)
        .where(Membership.user_id == user_id)
        .order_by(Membership.organization_id)
    )
    return list(rows)
