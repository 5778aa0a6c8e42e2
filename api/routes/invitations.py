"""The caller's own invitations: list, accept, decline (matched by the account's e-mail)."""

from __future__ import annotations

import uuid

from fastapi import APIRouter

from api.deps import CurrentUser, RedisDep, SessionDep
from core import revocations
from models.base import Page
from models.invitation import InvitationPublic
from services import invitations

router = APIRouter(prefix="/invitations", tags=["invitations"])


@router.get("/")
async def list_my_invitations(user: CurrentUser, session: SessionDep) -> Page[InvitationPublic]:
    """Pending, unexpired invitations to the caller's e-mail address."""
    rows = await invitations.list_for_user(session, user=user)
    return Page(data=[invitations.to_public(i, name) for i, name in rows], count=len(rows))


@router.post("/{invitation_id}/accept")
async def accept_invitation(
    invitation_id: uuid.UUID, user: CurrentUser, session: SessionDep, redis: RedisDep
) -> InvitationPublic:
    """Join the organization with the invited role; 409 once answered, 410 once expired,
    404 for an invitation to another address."""
    invitation, name = await invitations.accept(session, user=user, invitation_id=invitation_id)
    await session.commit()
    # The caller's open sockets start receiving the organization's events.
    await revocations.memberships_changed(redis, user.id)
    return invitations.to_public(invitation, name)


@router.post("/{invitation_id}/decline")
async def decline_invitation(
    invitation_id: uuid.UUID, user: CurrentUser, session: SessionDep
) -> InvitationPublic:
    invitation, name = await invitations.decline(session, user=user, invitation_id=invitation_id)
    await session.commit()
    return invitations.to_public(invitation, name)
