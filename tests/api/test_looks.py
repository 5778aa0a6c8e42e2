"""Looks: creation with one shot per shot type, references, shot-type sync, cascade, tenancy."""

from __future__ import annotations

import uuid
from typing import Any

from fastapi import FastAPI
from sqlalchemy import func, select
from sqlmodel import SQLModel

from models.guideline import Guideline
from models.preset import BackgroundPreset
from models.shooting import ShootingLook
from models.shot import RevisionStatus, Shot, ShotRevision
from models.shot_type import ShotType, Visibility
from models.subject import Subject
from services import shots as shot_service
from tests.helpers import Api, UserHandle


async def insert(app: FastAPI, row: SQLModel) -> str:
    """Write a row directly (for resources whose routes are not part of this suite)."""
    async with app.state.sessionmaker() as session:
        session.add(row)
        await session.commit()
        return str(row.id)  # type: ignore[attr-defined]


def owned(user: UserHandle, org: str | None) -> dict[str, Any]:
    return {"owner_id": uuid.UUID(user.id), "organization_id": uuid.UUID(org) if org else None}


async def shot_type(
    app: FastAPI, user: UserHandle, org: str | None, *, public: bool = False
) -> str:
    visibility = Visibility.PUBLIC if public else Visibility.PRIVATE
    return await insert(app, ShotType(name="Front", visibility=visibility, **owned(user, org)))


async def add_revision(
    app: FastAPI, shot_id: str, status: RevisionStatus = RevisionStatus.IN_REVIEW
) -> ShotRevision:
    """A revision through the service the generation workflow uses."""
    async with app.state.sessionmaker() as session:
        shot = await session.get(Shot, uuid.UUID(shot_id))
        assert shot is not None
        revision = await shot_service.create_revision(
            session, shot, generation_id=None, status=status
        )
        await session.commit()
        return revision


async def count(app: FastAPI, model: Any, **where: Any) -> int:
    async with app.state.sessionmaker() as session:
        conditions = [getattr(model, k) == uuid.UUID(v) for k, v in where.items()]
        return int(await session.scalar(select(func.count()).select_from(model).where(*conditions)))


async def shooting(api: Api, user: UserHandle, org: str | None, **body: Any) -> str:
    created = await api.create("/shootings/", {"name": "SS26", **body}, as_=user, org=org)
    return created["id"]


def q(org: str | None) -> dict[str, str]:
    return {"organization_id": org} if org else {}


async def test_create_look_creates_one_shot_per_shot_type(
    api: Api, app: FastAPI, user: UserHandle
) -> None:
    org = user.orgs[0]
    sid = await shooting(api, user, org)
    types = [await shot_type(app, user, org) for _ in range(3)]
    product = await api.create("/products/", {"name": "Shirt"}, as_=user, org=org)
    look = await api.create(
        f"/shootings/{sid}/looks",
        {"name": "Look 1", "main_product_id": product["id"], "shot_type_ids": types},
        as_=user,
        org=org,
    )
    assert look["shot_type_ids"] == types and len(look["shot_ids"]) == 3
    assert look["organization_id"] == org and look["shooting_id"] == sid
    assert look["position"] == 0
    r = await api.get("/shots/", as_=user, params={"organization_id": org, "look_id": look["id"]})
    body = r.json()
    assert body["count"] == 3
    assert [s["position"] for s in body["data"]] == [0, 1, 2]
    assert [s["shot_type_id"] for s in body["data"]] == types
    assert all(s["status"] == "pending" and s["shooting_id"] == sid for s in body["data"])

    second = await api.create(f"/shootings/{sid}/looks", {}, as_=user, org=org)
    assert second["position"] == 1 and second["shot_ids"] == []


async def test_create_look_with_links_through_shooting_looks_route(
    api: Api, app: FastAPI, user: UserHandle
) -> None:
    sid = await shooting(api, user, None)
    guideline = await insert(app, Guideline(name="Spec", **owned(user, None)))
    system_bg = await insert(app, BackgroundPreset(name="White", is_system=True))
    outfit = [(await api.create("/products/", {"name": n}, as_=user))["id"] for n in "AB"]
    look = await api.create(
        "/shooting-looks/",
        {
            "shooting_id": sid,
            "guidelines": [guideline],
            "background_preset_id": system_bg,
            "outfit_product_ids": outfit[::-1],
            "outfit_reference_urls": ["https://example.com/ref.jpg"],
            "shot_type_ids": [await shot_type(app, user, None)],
        },
        as_=user,
    )
    assert look["guidelines"] == [guideline] and look["outfit_product_ids"] == outfit[::-1]
    assert look["outfit_reference_urls"] == ["https://example.com/ref.jpg"]
    r = await api.get(f"/shootings/{sid}/looks", as_=user)
    assert r.json()["count"] == 1 and r.json()["data"][0]["id"] == look["id"]


async def test_create_look_public_shot_type_usable_by_any_org(
    api: Api, app: FastAPI, user: UserHandle, other_user: UserHandle, superuser: UserHandle
) -> None:
    public = await shot_type(app, superuser, None, public=True)
    for who in (user, other_user):
        sid = await shooting(api, who, who.orgs[0])
        look = await api.create(
            f"/shootings/{sid}/looks", {"shot_type_ids": [public]}, as_=who, org=who.orgs[0]
        )
        assert look["shot_type_ids"] == [public]


async def test_create_look_foreign_reference_is_404_and_writes_nothing(
    api: Api, app: FastAPI, user: UserHandle, other_user: UserHandle
) -> None:
    org = user.orgs[0]
    sid = await shooting(api, user, org)
    mine = await shot_type(app, user, org)
    foreign_type = await shot_type(app, other_user, other_user.orgs[0])
    foreign_product = await api.create(
        "/products/", {"name": "X"}, as_=other_user, org=other_user.orgs[0]
    )
    foreign_subject = await insert(app, Subject(name="Ann", **owned(other_user, None)))
    for body, what in (
        ({"shot_type_ids": [mine, foreign_type]}, "Shot type"),
        ({"shot_type_ids": [mine], "main_product_id": foreign_product["id"]}, "Product"),
        ({"shot_type_ids": [mine], "outfit_product_ids": [foreign_product["id"]]}, "Product"),
        ({"shot_type_ids": [mine], "subject_id": foreign_subject}, "Subject"),
        ({"shot_type_ids": [mine], "guidelines": [str(uuid.uuid4())]}, "Guideline"),
    ):
        r = await api.post(f"/shootings/{sid}/looks", as_=user, json=body, params=q(org))
        assert r.status_code == 404, r.text
        assert r.json()["detail"].startswith(what)
    assert await count(app, ShootingLook, shooting_id=sid) == 0
    assert await count(app, Shot, shooting_id=sid) == 0


async def test_create_look_duplicate_shot_types_is_rejected(
    api: Api, app: FastAPI, user: UserHandle
) -> None:
    sid = await shooting(api, user, None)
    st = await shot_type(app, user, None)
    r = await api.post(f"/shootings/{sid}/looks", as_=user, json={"shot_type_ids": [st, st]})
    assert r.status_code == 400 and "duplicate" in r.json()["detail"]
    assert await count(app, ShootingLook, shooting_id=sid) == 0


async def test_update_look_shot_types_adds_and_removes_shots(
    api: Api, app: FastAPI, user: UserHandle
) -> None:
    sid = await shooting(api, user, None)
    a, b, c = [await shot_type(app, user, None) for _ in range(3)]
    look = await api.create(f"/shootings/{sid}/looks", {"shot_type_ids": [a, b]}, as_=user)
    shot_a = look["shot_ids"][0]
    await add_revision(app, look["shot_ids"][1], RevisionStatus.PENDING)
    r = await api.patch(
        f"/shooting-looks/{look['id']}", as_=user, json={"shot_type_ids": [c, a], "name": "N"}
    )
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["name"] == "N" and body["shot_type_ids"] == [c, a]
    assert body["shot_ids"][1] == shot_a  # kept, moved to position 1
    assert await count(app, Shot, look_id=look["id"]) == 2


async def test_update_look_removing_reviewed_shot_conflicts(
    api: Api, app: FastAPI, user: UserHandle
) -> None:
    sid = await shooting(api, user, None)
    a, b = [await shot_type(app, user, None) for _ in range(2)]
    look = await api.create(f"/shootings/{sid}/looks", {"shot_type_ids": [a, b]}, as_=user)
    await add_revision(app, look["shot_ids"][1])
    r = await api.patch(f"/shooting-looks/{look['id']}", as_=user, json={"shot_type_ids": [a]})
    assert r.status_code == 409
    assert await count(app, Shot, look_id=look["id"]) == 2


async def test_update_look_lists_replace_link_rows(
    api: Api, app: FastAPI, user: UserHandle
) -> None:
    sid = await shooting(api, user, None)
    g1, g2 = [await insert(app, Guideline(name="G", **owned(user, None))) for _ in range(2)]
    look = await api.create(f"/shootings/{sid}/looks", {"guidelines": [g1]}, as_=user)
    r = await api.patch(f"/shooting-looks/{look['id']}", as_=user, json={"guidelines": [g2]})
    assert r.status_code == 200 and r.json()["guidelines"] == [g2]
    r = await api.get(f"/shooting-looks/{look['id']}", as_=user)
    assert r.json()["guidelines"] == [g2]


async def test_delete_look_cascades_shots(api: Api, app: FastAPI, user: UserHandle) -> None:
    sid = await shooting(api, user, None)
    look = await api.create(
        f"/shootings/{sid}/looks", {"shot_type_ids": [await shot_type(app, user, None)]}, as_=user
    )
    await add_revision(app, look["shot_ids"][0])
    assert (await api.delete(f"/shooting-looks/{look['id']}", as_=user)).status_code == 204
    assert (await api.get(f"/shooting-looks/{look['id']}", as_=user)).status_code == 404
    assert await count(app, Shot, look_id=look["id"]) == 0
    assert await count(app, ShotRevision, shot_id=look["shot_ids"][0]) == 0


async def test_look_routes_other_users_look_is_404(
    api: Api, app: FastAPI, user: UserHandle, other_user: UserHandle
) -> None:
    org = user.orgs[0]
    sid = await shooting(api, user, org)
    look = await api.create(f"/shootings/{sid}/looks", {}, as_=user, org=org)
    path = f"/shooting-looks/{look['id']}"
    for params in ({}, {"organization_id": other_user.orgs[0]}):
        assert (await api.get(path, as_=other_user, params=params)).status_code == 404
        r = await api.patch(path, as_=other_user, params=params, json={"name": "x"})
        assert r.status_code == 404
        assert (await api.delete(path, as_=other_user, params=params)).status_code == 404
        r = await api.get(f"/shootings/{sid}/looks", as_=other_user, params=params)
        assert r.status_code == 404
        r = await api.post(f"/shootings/{sid}/looks", as_=other_user, params=params, json={})
        assert r.status_code == 404
        r = await api.post(
            "/shooting-looks/", as_=other_user, params=params, json={"shooting_id": sid}
        )
        assert r.status_code == 404
    # a member of nothing asking for the owner's organization
    assert (await api.get(path, as_=other_user, params=q(org))).status_code == 404
    assert (await api.get(path, as_=user, params=q(org))).status_code == 200
