"""Membership by consent: an invitation answers the same whatever the address (no account,
an account, a member already), joins only when its invitee accepts, expires, can be
revoked, and is reachable by nobody else."""

from __future__ import annotations

import asyncio
import json
import uuid
from datetime import datetime, timedelta
from typing import Any

from fastapi import FastAPI
from sqlalchemy import func, select, update

from core import revocations
from core.config import Settings
from models.base import utcnow
from models.invitation import Invitation
from models.organization import Membership
from tests.helpers import PASSWORD, Api, UserHandle
from tests.mailbox import Mailbox

# What differs from one invitation to the next by nature, not by who the address is.
PER_INVITATION = {"id", "email", "created_at", "expires_at"}


def _address() -> str:
    return f"invitee-{uuid.uuid4().hex[:12]}@example.com"


async def _members(app: FastAPI, org: str) -> dict[str, str]:
    async with app.state.sessionmaker() as session:
        rows = await session.execute(
            select(Membership.user_id, Membership.role).where(
                Membership.organization_id == uuid.UUID(org)
            )
        )
        return {str(user_id): str(role) for user_id, role in rows.all()}


async def _invite(api: Api, org: str, inviter: UserHandle, email: str, role: str = "member") -> Any:
    return await api.post(
        f"/organizations/{org}/members", as_=inviter, json={"email": email, "role": role}
    )


async def test_invite_answers_the_same_for_a_stranger_an_account_and_a_member(
    api: Api, app: FastAPI, user: UserHandle, other_user: UserHandle, mailbox: Mailbox
) -> None:
    org = user.orgs[0]
    member = await api.new_user(with_org=False)
    await api.add_member(org, user, member)
    before = await _members(app, org)

    answers = [
        await _invite(api, org, user, address)
        for address in (_address(), other_user.email, member.email)
    ]
    assert [r.status_code for r in answers] == [202, 202, 202]
    bodies = [r.json() for r in answers]
    alike = {json.dumps({k: v for k, v in b.items() if k not in PER_INVITATION}) for b in bodies}
    assert len(alike) == 1, alike
    assert bodies[0]["status"] == "pending" and bodies[0]["role"] == "member"
    assert [set(b) for b in bodies] == [set(bodies[0])] * 3
    # Nobody joined by being invited, and every address got the same kind of mail.
    assert await _members(app, org) == before
    for body in bodies:
        await mailbox.wait_for(body["email"], containing=f"/invitations/{body['id']}")


async def test_invitee_lists_accepts_and_joins_with_the_invited_role(
    api: Api, app: FastAPI, user: UserHandle, other_user: UserHandle
) -> None:
    org = user.orgs[0]
    invitation = (await _invite(api, org, user, other_user.email.upper(), "admin")).json()
    assert invitation["email"] == other_user.email  # normalized like account e-mails
    assert (await api.get(f"/organizations/{org}", as_=other_user)).status_code == 404

    mine = (await api.get("/invitations/", as_=other_user)).json()
    assert [i["id"] for i in mine["data"]] == [invitation["id"]]
    assert mine["data"][0]["organization_name"] == f"Org of {user.email}"

    accepted = await api.post(f"/invitations/{invitation['id']}/accept", as_=other_user)
    assert accepted.status_code == 200, accepted.text
    assert accepted.json()["status"] == "accepted"
    assert (await _members(app, org))[other_user.id] == "admin"
    assert (await api.get(f"/organizations/{org}", as_=other_user)).json()["role"] == "admin"
    # Answered: no longer pending, and a second accept changes nothing.
    assert (await api.get("/invitations/", as_=other_user)).json()["count"] == 0
    again = await api.post(f"/invitations/{invitation['id']}/accept", as_=other_user)
    assert again.status_code == 409


async def test_declined_invitation_joins_nothing(
    api: Api, app: FastAPI, user: UserHandle, other_user: UserHandle
) -> None:
    org = user.orgs[0]
    invitation = (await _invite(api, org, user, other_user.email)).json()
    declined = await api.post(f"/invitations/{invitation['id']}/decline", as_=other_user)
    assert declined.status_code == 200 and declined.json()["status"] == "declined"
    assert other_user.id not in await _members(app, org)
    late = await api.post(f"/invitations/{invitation['id']}/accept", as_=other_user)
    assert late.status_code == 409


async def test_another_address_cannot_see_accept_or_decline_an_invitation(
    api: Api, app: FastAPI, user: UserHandle, other_user: UserHandle, superuser: UserHandle
) -> None:
    org = user.orgs[0]
    invitation = (await _invite(api, org, user, _address(), "owner")).json()
    for intruder in (other_user, superuser):  # a superuser's account is not the address
        listed = (await api.get("/invitations/", as_=intruder)).json()["data"]
        assert invitation["id"] not in [i["id"] for i in listed]
        for action in ("accept", "decline"):
            r = await api.post(f"/invitations/{invitation['id']}/{action}", as_=intruder)
            assert r.status_code == 404, r.text
    missing = await api.post(f"/invitations/{uuid.uuid4()}/accept", as_=other_user)
    assert missing.status_code == 404
    assert set(await _members(app, org)) == {user.id}


async def test_address_invited_before_signup_sees_the_invitation_after_it(
    api: Api, app: FastAPI, user: UserHandle
) -> None:
    org = user.orgs[0]
    email = _address()
    invitation = (await _invite(api, org, user, email)).json()
    signup = await api.post("/users/signup", json={"email": email, "password": PASSWORD})
    assert signup.status_code == 201, signup.text
    assert set(signup.json()) == set(
        (await api.post("/users/signup", json={"email": _address(), "password": PASSWORD})).json()
    )
    newcomer = await api.login(email, PASSWORD)
    listed = (await api.get("/invitations/", as_=newcomer)).json()["data"]
    assert [i["id"] for i in listed] == [invitation["id"]]
    r = await api.post(f"/invitations/{invitation['id']}/accept", as_=newcomer)
    assert r.status_code == 200, r.text
    assert newcomer.id in await _members(app, org)


async def test_expired_invitation_is_not_listed_and_cannot_be_accepted(
    api: Api, app: FastAPI, user: UserHandle, other_user: UserHandle
) -> None:
    org = user.orgs[0]
    invitation = (await _invite(api, org, user, other_user.email)).json()
    async with app.state.sessionmaker() as session:
        await session.execute(
            update(Invitation)
            .where(Invitation.id == uuid.UUID(invitation["id"]))
            .values(expires_at=utcnow() - timedelta(minutes=1))
        )
        await session.commit()

    assert (await api.get("/invitations/", as_=other_user)).json()["count"] == 0
    r = await api.post(f"/invitations/{invitation['id']}/accept", as_=other_user)
    assert r.status_code == 410 and "expired" in r.json()["detail"]
    assert other_user.id not in await _members(app, org)
    listed = (await api.get(f"/organizations/{org}/invitations", as_=user)).json()["data"]
    assert [(i["id"], i["status"]) for i in listed] == [(invitation["id"], "expired")]
    # Inviting again opens a new invitation, which works.
    fresh = (await _invite(api, org, user, other_user.email)).json()
    assert fresh["id"] != invitation["id"] and fresh["status"] == "pending"
    assert (await api.post(f"/invitations/{fresh['id']}/accept", as_=other_user)).status_code == 200


async def test_inviting_again_refreshes_the_one_pending_invitation(
    api: Api, app: FastAPI, user: UserHandle, settings: Settings
) -> None:
    org = user.orgs[0]
    email = _address()
    first = (await _invite(api, org, user, email, "member")).json()
    second = (await _invite(api, org, user, email, "admin")).json()
    assert second["id"] == first["id"] and second["role"] == "admin"
    assert second["expires_at"] >= first["expires_at"]
    async with app.state.sessionmaker() as session:
        pending = await session.scalar(
            select(func.count()).where(
                Invitation.organization_id == uuid.UUID(org), Invitation.email == email
            )
        )
    assert pending == 1
    days = (datetime.fromisoformat(second["expires_at"]) - utcnow()).total_seconds() / 86400
    assert settings.INVITATION_EXPIRE_DAYS - 0.01 < days <= settings.INVITATION_EXPIRE_DAYS


async def test_managers_list_and_revoke_invitations(
    api: Api, user: UserHandle, other_user: UserHandle
) -> None:
    org = user.orgs[0]
    member = await api.new_user(with_org=False)
    await api.add_member(org, user, member)
    invitation = (await _invite(api, org, user, other_user.email)).json()

    listed = await api.get(f"/organizations/{org}/invitations", as_=user)
    assert listed.status_code == 200
    statuses = {i["email"]: i["status"] for i in listed.json()["data"]}
    assert statuses == {member.email: "accepted", other_user.email: "pending"}
    # A member is not a manager; another organization's user learns nothing.
    assert (await api.get(f"/organizations/{org}/invitations", as_=member)).status_code == 403
    assert (await api.get(f"/organizations/{org}/invitations", as_=other_user)).status_code == 404
    path = f"/organizations/{org}/invitations/{invitation['id']}"
    assert (await api.delete(path, as_=member)).status_code == 403
    assert (await api.delete(path, as_=other_user)).status_code == 404
    # Through one's own organization, another organization's invitation does not exist.
    own = f"/organizations/{other_user.orgs[0]}/invitations/{invitation['id']}"
    assert (await api.delete(own, as_=other_user)).status_code == 404

    assert (await api.delete(path, as_=user)).status_code == 204
    assert (await api.delete(path, as_=user)).status_code == 409
    assert (await api.get("/invitations/", as_=other_user)).json()["count"] == 0
    r = await api.post(f"/invitations/{invitation['id']}/accept", as_=other_user)
    assert r.status_code == 409


async def test_only_owners_invite_as_owner(
    api: Api, user: UserHandle, other_user: UserHandle
) -> None:
    org = user.orgs[0]
    await api.add_member(org, user, other_user, "admin")
    assert (await _invite(api, org, other_user, _address(), "owner")).status_code == 403
    assert (await _invite(api, org, other_user, _address(), "admin")).status_code == 202
    assert (await _invite(api, org, user, _address(), "owner")).status_code == 202


async def test_two_accepts_at_once_make_one_membership(
    api: Api, app: FastAPI, user: UserHandle, other_user: UserHandle
) -> None:
    org = user.orgs[0]
    invitation = (await _invite(api, org, user, other_user.email)).json()
    path = f"/invitations/{invitation['id']}/accept"
    first, second = await asyncio.gather(
        api.post(path, as_=other_user), api.post(path, as_=other_user)
    )
    assert sorted([first.status_code, second.status_code]) == [200, 409]
    assert list((await _members(app, org)).values()).count("member") == 1


async def test_membership_changes_are_announced_to_open_sockets(
    api: Api, app: FastAPI, user: UserHandle, other_user: UserHandle
) -> None:
    """Accept, role change and removal each publish the user's `memberships` revocation
    after the commit, so every API process re-reads that user's sockets' organizations."""
    org = user.orgs[0]
    pubsub = app.state.redis.pubsub()
    await pubsub.subscribe(revocations.CHANNEL)

    async def announced() -> list[str]:
        seen = []
        while message := await pubsub.get_message(ignore_subscribe_messages=True, timeout=1):
            revocation = revocations.Revocation.decode(message["data"])
            if revocation and revocation.kind == "memberships":
                seen.append(revocation.user_id)
        return seen

    try:
        await announced()
        await api.add_member(org, user, other_user)
        assert other_user.id in await announced()
        r = await api.patch(
            f"/organizations/{org}/members/{other_user.id}", as_=user, json={"role": "admin"}
        )
        assert r.status_code == 200
        assert other_user.id in await announced()
        r = await api.delete(f"/organizations/{org}/members/{other_user.id}", as_=user)
        assert r.status_code == 204
        assert other_user.id in await announced()
    finally:
        await pubsub.unsubscribe()
        await pubsub.aclose()
