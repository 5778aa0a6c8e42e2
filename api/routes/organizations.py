"""Organizations, memberships and the invitations that lead to them."""

from __future__ import annotations

import uuid

from fastapi import APIRouter, Response
from temporalio.service import RPCError

from api.deps import CurrentUser, PageDep, RedisDep, SessionDep, SettingsDep, TemporalDep
from api.rate_limits import InvitationLimit
from core import revocations
from core.starts import start_mail
from models.base import Page
from models.invitation import InvitationCreate, InvitationPublic
from models.organization import (
    MemberPublic,
    MemberUpdate,
    OrganizationCreate,
    OrganizationPublic,
    OrganizationUpdate,
    OrgRole,
)
from services import invitations, organizations
from services.errors import WorkflowUnavailable
from workflows.mail_types import INVITATION, MailInput

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
    organization_id: uuid.UUID, user: CurrentUser, session: SessionDep, redis: RedisDep
) -> Response:
    """Delete the organization and everything it owns (owner only)."""
    org, scope = await organizations.get_in_scope(
        session, user=user, organization_id=organization_id
    )
    members = [m.user_id for m in await organizations.list_members(session, organization_id)]
    await organizations.delete(session, org, scope)
    await session.commit()
    for member in members:
        await revocations.memberships_changed(redis, member)
    return Response(status_code=204)


@router.get("/{organization_id}/members")
async def list_members(
    organization_id: uuid.UUID, user: CurrentUser, session: SessionDep
) -> Page[MemberPublic]:
    await organizations.get_in_scope(session, user=user, organization_id=organization_id)
    members = await organizations.list_members(session, organization_id)
    return Page(data=members, count=len(members))


@router.post("/{organization_id}/members", status_code=202)
async def invite_member(
    organization_id: uuid.UUID,
    body: InvitationCreate,
    user: CurrentUser,
    session: SessionDep,
    settings: SettingsDep,
    temporal: TemporalDep,
    _limit: InvitationLimit,
) -> InvitationPublic:
    """Invite an address (owner/admin; only owners invite as `owner`): 202 with a pending
    invitation and a mail to the address, whether or not it has an account or is a member
    already (then accepting changes nothing). It joins when its owner accepts."""
    org, scope = await organizations.get_in_scope(
        session, user=user, organization_id=organization_id
    )
    invitation = await invitations.invite(
        session,
        settings,
        scope=scope,
        organization_id=organization_id,
        email=body.email,
        role=body.role,
    )
    await session.commit()
    try:
        # After the commit: the run reads the invitation (and sends nothing once it closed).
        await start_mail(
            await temporal.get(),
            MailInput(
                kind=INVITATION,
                invitation_id=str(invitation.id),
                deadline_seconds=settings.MAIL_DEADLINE_SECONDS,
            ),
            organization_id=organization_id,
            task_queue_prefix=settings.TASK_QUEUE_PREFIX,
        )
    except RPCError as error:
        # The invitation stands (listed, acceptable); inviting again sends its mail.
        message = f"The invitation is saved but its mail could not be sent: {error}"
        raise WorkflowUnavailable(message) from error
    return invitations.to_public(invitation, org.name)


@router.get("/{organization_id}/invitations")
async def list_invitations(
    organization_id: uuid.UUID, user: CurrentUser, session: SessionDep, page: PageDep
) -> Page[InvitationPublic]:
    """The organization's invitations with their status, newest first (owner/admin)."""
    org, scope = await organizations.get_in_scope(
        session, user=user, organization_id=organization_id
    )
    rows, count = await invitations.list_for_organization(
        session, scope=scope, organization_id=organization_id, skip=page.skip, limit=page.limit
    )
    return Page(data=[invitations.to_public(i, org.name) for i in rows], count=count)


@router.delete("/{organization_id}/invitations/{invitation_id}", status_code=204)
async def revoke_invitation(
    organization_id: uuid.UUID, invitation_id: uuid.UUID, user: CurrentUser, session: SessionDep
) -> Response:
    """Withdraw a pending invitation (owner/admin); 409 once it is answered."""
    _, scope = await organizations.get_in_scope(session, user=user, organization_id=organization_id)
    await invitations.revoke(
        session, scope=scope, organization_id=organization_id, invitation_id=invitation_id
    )
    await session.commit()
    return Response(status_code=204)


@router.patch("/{organization_id}/members/{user_id}")
async def change_member_role(
    organization_id: uuid.UUID,
    user_id: uuid.UUID,
    body: MemberUpdate,
    user: CurrentUser,
    session: SessionDep,
    redis: RedisDep,
) -> MemberPublic:
    _, scope = await organizations.get_in_scope(session, user=user, organization_id=organization_id)
    await organizations.change_role(
        session, scope=scope, organization_id=organization_id, user_id=user_id, role=body.role
    )
    await session.commit()
    await revocations.memberships_changed(redis, user_id)
    members = await organizations.list_members(session, organization_id)
    return next(m for m in members if m.user_id == user_id)


@router.delete("/{organization_id}/members/{user_id}", status_code=204)
async def remove_member(
    organization_id: uuid.UUID,
    user_id: uuid.UUID,
    user: CurrentUser,
    session: SessionDep,
    redis: RedisDep,
) -> Response:
    """Remove a member (owner/admin), or leave (yourself); the last owner cannot go."""
    _, scope = await organizations.get_in_scope(session, user=user, organization_id=organization_id)
    await organizations.remove_member(
        session, scope=scope, organization_id=organization_id, user_id=user_id
    )
    await session.commit()
    # The member's open sockets stop receiving the organization's events.
    await revocations.memberships_changed(redis, user_id)
    return Response(status_code=204)
