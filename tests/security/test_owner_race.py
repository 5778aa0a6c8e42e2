"""Two owners leaving, or demoting each other, at the same moment never leave an
organization without an owner: the membership changes of one organization take its row
lock and run one after the other, each re-reading who is left (and who the caller is now).

The race is real, not staged: both requests go through the API at once, and each round
has a fresh organization. Without the lock both requests count two owners and both win
(most rounds, on an idle machine); with it, exactly one does in every round.
"""

from __future__ import annotations

import asyncio
import uuid

import httpx
from fastapi import FastAPI
from sqlalchemy import func, select

from models.organization import Membership, OrgRole
from tests.helpers import Api, UserHandle

ROUNDS = 20


async def _two_owner_org(api: Api, first: UserHandle, second: UserHandle) -> str:
    org = (await api.create("/organizations/", {"name": "Two owners"}, as_=first))["id"]
    await api.add_member(org, first, second, "owner")
    return org


async def _owners(app: FastAPI, org: str) -> int:
    async with app.state.sessionmaker() as session:
        count = await session.scalar(
            select(func.count()).where(
                Membership.organization_id == uuid.UUID(org), Membership.role == OrgRole.OWNER
            )
        )
        return int(count or 0)


def _outcome(answers: tuple[httpx.Response, httpx.Response]) -> list[int]:
    return sorted(r.status_code for r in answers)


async def test_two_owners_leaving_at_once_leave_one_owner(
    api: Api, app: FastAPI, user: UserHandle, other_user: UserHandle
) -> None:
    for _ in range(ROUNDS):
        org = await _two_owner_org(api, user, other_user)
        answers = await asyncio.gather(
            api.delete(f"/organizations/{org}/members/{user.id}", as_=user),
            api.delete(f"/organizations/{org}/members/{other_user.id}", as_=other_user),
        )
        assert _outcome(answers) == [204, 400], [r.text for r in answers]
        refused = next(r for r in answers if r.status_code == 400)
        assert "needs at least one owner" in refused.json()["detail"]
        assert await _owners(app, org) == 1


async def test_two_owners_demoting_each_other_at_once_leave_one_owner(
    api: Api, app: FastAPI, user: UserHandle, other_user: UserHandle
) -> None:
    for _ in range(ROUNDS):
        org = await _two_owner_org(api, user, other_user)
        answers = await asyncio.gather(
            api.patch(
                f"/organizations/{org}/members/{other_user.id}", as_=user, json={"role": "admin"}
            ),
            api.patch(
                f"/organizations/{org}/members/{user.id}", as_=other_user, json={"role": "admin"}
            ),
        )
        # The second to get the lock is an admin by then: it may no longer change an
        # owner's role (403), before it would be told the last owner must stay (400).
        assert _outcome(answers) == [200, 403], [r.text for r in answers]
        assert await _owners(app, org) == 1
