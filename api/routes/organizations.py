"""Organizations and memberships."""

from __future__ import annotations

import uuid

from fastapi import APIRouter, Response

from api.deps import CurrentUser, PageDep, SessionDep
from models.base import Page
from models.organization import (
    MemberAdd,
    MemberPublic,
    MemberUpdate,
    OrganizationCreate,
    OrganizationPublic,
    OrganizationUpdate,
    OrgRole,
)
from services import organizations

router = APIRouter(prefix="/organizations", tags=["organizations"])


@router.post("/", status_code=201)
async def create_organization(
    body: OrganizationCreate, user: CurrentUser, session: SessionDep
) -> OrganizationPublic:
    """Create an organization; the caller becomes its owner."""
    org = await organizations.create(session, user=user, data=body)
    await session.commit()
    return organizations.to_public(org, OrgRole.OWNER)


@router.get("/")
async def list_organizations(
    user: CurrentUser, session: SessionDep, page: PageDep
) -> Page[OrganizationPublic]:
    """The organizations the caller belongs to, with its role in each."""
    rows, count = await organizations.list_for_user(
        session, user=user, skip=page.skip, limit=page.limit
    )
    return Page(data=[organizations.to_public(o, r) for o, r in rows], count=count)


@router.get("/{organization_id}")
async def read_organization(
    organization_id: uuid.UUID, user: CurrentUser, session: SessionDep
) -> OrganizationPublic:
    org, scope = await organizations.get_in_scope(
        session, user=user, organization_id=organization_id
    )
    return organizations.to_public(org, scope.role)


@router.patch("/{organization_id}")
async def update_organization(
    organization_id: uuid.UUID, body: OrganizationUpdate, user: CurrentUser, session: SessionDep
) -> OrganizationPublic:
    """Rename (owner/admin)."""
    org, scope = await organizations.get_in_scope(
        session, user=user, organization_id=organization_id
    )
    await organizations.update(session, org, scope, body)
    await session.commit()
    return organizations.to_public(org, scope.role)


@router.delete("/{organization_id}", status_code=204)
async def delete_organization(
    organization_id: uuid.UUID, user: CurrentUser, session: SessionDep
) -> Response:
    """Delete the organization and everything it owns (owner only)."""
    org, scope = await organizations.get_in_scope(
        session, user=user, organization_id=organization_id
    )
    await organizations.delete(session, org, scope)
    await session.commit()
    return Response(status_code=204)


@router.get("/{organization_id}/members")
async def list_members(
    organization_id: uuid.UUID, user: CurrentUser, session: SessionDep
) -> Page[MemberPublic]:
    await organizations.get_in_scope(session, user=user, organization_id=organization_id)
    members = await organizations.list_members(session, organization_id)
    return Page(data=members, count=len(members))


@router.post("/{organization_id}/members", status_code=201)
async def add_member(
    organization_id: uuid.UUID, body: MemberAdd, user: CurrentUser, session: SessionDep
) -> MemberPublic:
    """Add an existing user by e-mail (owner/admin; only owners grant `owner`)."""
    _, scope = await organizations.get_in_scope(session, user=user, organization_id=organization_id)
    member = await organizations.add_member(
        session, scope=scope, organization_id=organization_id, email=body.email, role=body.role
    )
    await session.commit()
    return member


@router.patch("/{organization_id}/members/{user_id}")
async def change_member_role(
    organization_id: uuid.UUID,
    user_id: uuid.UUID,
    body: MemberUpdate,
    user: CurrentUser,
    session: SessionDep,
) -> MemberPublic:
    _, scope = await organizations.get_in_scope(session, user=user, organization_id=organization_id)
    await organizations.change_role(
        session, scope=scope, organization_id=organization_id, user_id=user_id, role=body.role
    )
    await session.commit()
    members = await organizations.list_members(session, organization_id)
    return next(m for m in members if m.user_id == user_id)


@router.delete("/{organization_id}/members/{user_id}", status_code=204)
async def remove_member(
    organization_id: uuid.UUID, user_id: uuid.UUID, user: CurrentUser, session: SessionDep
) -> Response:
    """Remove a member (owner/admin), or leave (yourself)."""
    _, scope = await organizations.get_in_scope(session, user=user, organization_id=organization_id)
    await organizations.remove_member(
        session, scope=scope, organization_id=organization_id, user_id=user_id
    )
    await session.commit()
    return Response(status_code=204)
