"""Shootings: CRUD, filters, shot-status aggregate, tenancy."""

from __future__ import annotations

from fastapi import FastAPI

from models.guideline import Guideline
from models.shot import RevisionStatus
from tests.api.test_looks import add_revision, insert, owned, q, shooting, shot_type
from tests.helpers import Api, UserHandle


async def test_create_and_read_shooting_in_organization(api: Api, user: UserHandle) -> None:
    org = user.orgs[0]
    created = await api.create(
        "/shootings/", {"name": "SS26 Campaign", "brand": "Acme"}, as_=user, org=org
    )
    assert created["organization_id"] == org and created["owner_id"] == user.id
    assert created["archived"] is False
    assert created["shot_status"] == {"pending": 0, "in_review": 0, "approved": 0, "rejected": 0}
    r = await api.get(f"/shootings/{created['id']}", as_=user, params=q(org))
    assert r.status_code == 200 and r.json()["brand"] == "Acme"
    # an organization's shooting is not a personal one
    assert (await api.get(f"/shootings/{created['id']}", as_=user)).status_code == 404


async def test_create_shooting_with_default_guidelines(
    api: Api, app: FastAPI, user: UserHandle, other_user: UserHandle
) -> None:
    mine = await insert(app, Guideline(name="Mine", **owned(user, None)))
    created = await api.create(
        "/shootings/", {"name": "S", "default_guidelines_id": mine}, as_=user
    )
    assert created["default_guidelines_id"] == mine

    foreign = await insert(app, Guideline(name="Theirs", **owned(other_user, None)))
    r = await api.post(
        "/shootings/", as_=user, json={"name": "S", "default_guidelines_id": foreign}
    )
    assert r.status_code == 404 and r.json()["detail"].startswith("Guideline")
    r = await api.patch(
        f"/shootings/{created['id']}", as_=user, json={"default_guidelines_id": foreign}
    )
    assert r.status_code == 404


async def test_list_shootings_filters_and_counts(api: Api, user: UserHandle) -> None:
    org = user.orgs[0]
    for name in ("Summer dresses", "Summer shoes", "Winter coats"):
        await api.create("/shootings/", {"name": name}, as_=user, org=org)
    await api.create("/shootings/", {"name": "Old summer", "archived": True}, as_=user, org=org)
    r = await api.get("/shootings/", as_=user, params={"organization_id": org, "search": "SUMMER"})
    assert r.json()["count"] == 3
    params = {"organization_id": org, "search": "summer", "archived": "false", "limit": 1}
    body = (await api.get("/shootings/", as_=user, params=params)).json()
    assert body["count"] == 2 and len(body["data"]) == 1
    r = await api.get("/shootings/", as_=user, params={"organization_id": org, "archived": True})
    assert [s["name"] for s in r.json()["data"]] == ["Old summer"]
    # personal scope sees none of them
    assert (await api.get("/shootings/", as_=user)).json()["count"] == 0


async def test_list_shootings_shot_status_counts(api: Api, app: FastAPI, user: UserHandle) -> None:
    org = user.orgs[0]
    sid = await shooting(api, user, org)
    empty = await shooting(api, user, org)
    types = [await shot_type(app, user, org) for _ in range(4)]
    look = await api.create(f"/shootings/{sid}/looks", {"shot_type_ids": types}, as_=user, org=org)
    s0, s1, s2, _ = look["shot_ids"]
    await add_revision(app, s0)
    await add_revision(app, s1)
    await add_revision(app, s2, RevisionStatus.PENDING)
    r = await api.post(f"/shots/{s1}/approve", as_=user, params=q(org))
    assert r.status_code == 200, r.text
    rows = {
        s["id"]: s for s in (await api.get("/shootings/", as_=user, params=q(org))).json()["data"]
    }
    expected = {"pending": 2, "in_review": 1, "approved": 1, "rejected": 0}
    assert rows[sid]["shot_status"] == expected
    assert sum(rows[empty]["shot_status"].values()) == 0
    single = (await api.get(f"/shootings/{sid}", as_=user, params=q(org))).json()
    assert single["shot_status"] == expected


async def test_update_and_delete_shooting(api: Api, app: FastAPI, user: UserHandle) -> None:
    sid = await shooting(api, user, None)
    r = await api.patch(f"/shootings/{sid}", as_=user, json={"name": "New", "archived": True})
    assert r.status_code == 200 and r.json()["name"] == "New" and r.json()["archived"] is True
    r = await api.patch(f"/shootings/{sid}", as_=user, json={"name": None})
    assert r.status_code == 400
    look = await api.create(
        f"/shootings/{sid}/looks", {"shot_type_ids": [await shot_type(app, user, None)]}, as_=user
    )
    assert (await api.delete(f"/shootings/{sid}", as_=user)).status_code == 204
    assert (await api.get(f"/shootings/{sid}", as_=user)).status_code == 404
    assert (await api.get(f"/shooting-looks/{look['id']}", as_=user)).status_code == 404
    assert (await api.get(f"/shots/{look['shot_ids'][0]}", as_=user)).status_code == 404


async def test_shooting_routes_other_users_shooting_is_404(
    api: Api, user: UserHandle, other_user: UserHandle
) -> None:
    org = user.orgs[0]
    sid = await shooting(api, user, org)
    path = f"/shootings/{sid}"
    for params in ({}, {"organization_id": other_user.orgs[0]}):
        assert (await api.get(path, as_=other_user, params=params)).status_code == 404
        r = await api.patch(path, as_=other_user, params=params, json={"name": "x"})
        assert r.status_code == 404
        assert (await api.delete(path, as_=other_user, params=params)).status_code == 404
        listed = await api.get("/shootings/", as_=other_user, params=params)
        assert sid not in [s["id"] for s in listed.json()["data"]]
    assert (await api.get(path, as_=other_user, params=q(org))).status_code == 404
    assert (await api.get("/shootings/", as_=other_user, params=q(org))).status_code == 404
    assert (await api.get(path, as_=user, params=q(org))).status_code == 200
