"""Public subjects are readable by every tenant: only superusers publish one (403, as for
public shot types and system presets), on create and on update, and nothing is written."""

from __future__ import annotations

import uuid

from fastapi import FastAPI
from sqlalchemy import func, select

from models.subject import Subject
from tests.helpers import Api, UserHandle


async def _subjects_named(app: FastAPI, name: str) -> int:
    async with app.state.sessionmaker() as session:
        query = select(func.count()).select_from(Subject).where(Subject.name == name)
        return int(await session.scalar(query))


async def test_a_member_cannot_create_a_public_subject(
    api: Api, app: FastAPI, user: UserHandle
) -> None:
    name = f"Public {uuid.uuid4().hex[:8]}"
    for params in ({"organization_id": user.orgs[0]}, {}):  # organization and personal
        r = await api.post(
            "/subjects/", as_=user, params=params, json={"name": name, "is_public": True}
        )
        assert r.status_code == 403, r.text
    assert await _subjects_named(app, name) == 0


async def test_a_member_cannot_make_a_subject_public(
    api: Api, user: UserHandle, other_user: UserHandle
) -> None:
    org = user.orgs[0]
    created = await api.create("/subjects/", {"name": "Private"}, as_=user, org=org)
    path = f"/subjects/{created['id']}"
    r = await api.patch(
        path, as_=user, params={"organization_id": org}, json={"name": "X", "is_public": True}
    )
    assert r.status_code == 403, r.text
    r = await api.get(path, as_=user, params={"organization_id": org})
    assert r.json()["is_public"] is False and r.json()["name"] == "Private"  # nothing written
    # still private: another tenant does not see it
    assert (await api.get(path, as_=other_user)).status_code == 404


async def test_a_superuser_publishes_and_members_edit_without_publishing(
    api: Api, superuser: UserHandle, user: UserHandle
) -> None:
    public = await api.create("/subjects/", {"name": "Star", "is_public": True}, as_=superuser)
    assert public["is_public"] is True
    assert (await api.get(f"/subjects/{public['id']}", as_=user)).status_code == 200

    mine = await api.create("/subjects/", {"name": "Mine"}, as_=superuser)
    r = await api.patch(f"/subjects/{mine['id']}", as_=superuser, json={"is_public": True})
    assert r.status_code == 200 and r.json()["is_public"] is True

    # members keep editing their private subjects (is_public false is no publishing)
    org = user.orgs[0]
    own = await api.create("/subjects/", {"name": "Own", "is_public": False}, as_=user, org=org)
    r = await api.patch(
        f"/subjects/{own['id']}",
        as_=user,
        params={"organization_id": org},
        json={"surname": "Doe", "is_public": False},
    )
    assert r.status_code == 200 and r.json()["surname"] == "Doe"
