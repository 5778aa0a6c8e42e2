"""Shot types: private per scope, public ones managed by superusers, delete guarded by shots."""

from __future__ import annotations

import uuid

from fastapi import FastAPI

from models.shooting import Shooting, ShootingLook
from models.shot import Shot
from tests.helpers import Api, UserHandle


def unique(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:8]}"


async def test_create_and_read_private_shot_type(api: Api, user: UserHandle) -> None:
    org = user.orgs[0]
    body = {"name": "Front full", "framing": "Full Body", "view_angle": "Front"}
    created = await api.create("/shot-types/", body, as_=user, org=org)
    assert created["visibility"] == "private"
    assert created["organization_id"] == org and created["owner_id"] == user.id
    r = await api.get(f"/shot-types/{created['id']}", as_=user, params={"organization_id": org})
    assert r.status_code == 200 and r.json()["framing"] == "Full Body"


async def test_read_private_shot_type_of_other_organization_is_not_found(
    api: Api, user: UserHandle, other_user: UserHandle
) -> None:
    created = await api.create("/shot-types/", {"name": "Mine"}, as_=user, org=user.orgs[0])
    for params in ({}, {"organization_id": other_user.orgs[0]}):
        r = await api.get(f"/shot-types/{created['id']}", as_=other_user, params=params)
        assert r.status_code == 404
    r = await api.get(f"/shot-types/{created['id']}", as_=user)
    assert r.status_code == 404  # an organization's shot type is not a personal one


async def test_create_public_shot_type_as_user_is_forbidden(api: Api, user: UserHandle) -> None:
    r = await api.post("/shot-types/", as_=user, json={"name": "Mine", "visibility": "public"})
    assert r.status_code == 403 and r.json()["detail"] == "Not enough permissions"


async def test_create_public_shot_type_as_superuser_is_visible_to_everybody(
    api: Api, superuser: UserHandle, user: UserHandle, other_user: UserHandle
) -> None:
    name = unique("Back")
    body = {"name": name, "visibility": "public", "view_angle": "Back"}
    created = await api.create("/shot-types/", body, as_=superuser)
    assert created["organization_id"] is None and created["owner_id"] == superuser.id

    for who, params in ((user, {}), (other_user, {"organization_id": other_user.orgs[0]})):
        r = await api.get(f"/shot-types/{created['id']}", as_=who, params=params)
        assert r.status_code == 200
        r = await api.get("/shot-types/", as_=who, params={**params, "search": name})
        assert [s["id"] for s in r.json()["data"]] == [created["id"]]


async def test_list_shot_types_own_plus_public_with_filters(
    api: Api, superuser: UserHandle, user: UserHandle, other_user: UserHandle
) -> None:
    tag = unique("List")
    org = {"organization_id": user.orgs[0]}
    await api.create(
        "/shot-types/",
        {"name": f"{tag} pub", "visibility": "public", "framing": "Detail"},
        as_=superuser,
    )
    for i in range(3):
        body = {"name": f"{tag} own {i}", "framing": "Upper Body", "view_angle": "Side"}
        await api.create("/shot-types/", body, as_=user, org=user.orgs[0])
    await api.create("/shot-types/", {"name": f"{tag} foreign"}, as_=other_user)

    r = await api.get("/shot-types/", as_=user, params={**org, "search": tag, "limit": 2})
    assert r.json()["count"] == 4 and len(r.json()["data"]) == 2
    r = await api.get("/shot-types/", as_=user, params={**org, "search": tag, "skip": 3})
    assert len(r.json()["data"]) == 1
    params = {**org, "search": tag, "visibility": "public"}
    r = await api.get("/shot-types/", as_=user, params=params)
    assert [s["name"] for s in r.json()["data"]] == [f"{tag} pub"]
    r = await api.get("/shot-types/", as_=user, params={**org, "search": tag, "framing": "Detail"})
    assert r.json()["count"] == 1
    r = await api.get("/shot-types/", as_=user, params={**org, "search": tag, "view_angle": "Side"})
    assert r.json()["count"] == 3
    params = {**org, "search": tag, "visibility": "private"}
    assert (await api.get("/shot-types/", as_=user, params=params)).json()["count"] == 3


async def test_list_shot_types_with_unknown_framing_is_rejected(api: Api, user: UserHandle) -> None:
    r = await api.get("/shot-types/", as_=user, params={"framing": "Sideways"})
    assert r.status_code == 422 and r.json()["detail"][0]["loc"] == ["query", "framing"]


async def test_update_public_shot_type_as_user_is_forbidden(
    api: Api, superuser: UserHandle, user: UserHandle
) -> None:
    body = {"name": unique("Pub"), "visibility": "public"}
    created = await api.create("/shot-types/", body, as_=superuser)
    path = f"/shot-types/{created['id']}"
    r = await api.patch(path, as_=user, json={"name": "Mine now"})
    assert r.status_code == 403
    assert (await api.delete(path, as_=user)).status_code == 403
    r = await api.patch(path, as_=superuser, json={"description": "curated"})
    assert r.status_code == 200 and r.json()["description"] == "curated"
    assert (await api.delete(path, as_=superuser)).status_code == 204


async def test_update_shot_type_to_public_as_user_is_forbidden(api: Api, user: UserHandle) -> None:
    created = await api.create("/shot-types/", {"name": "Private"}, as_=user)
    r = await api.patch(f"/shot-types/{created['id']}", as_=user, json={"visibility": "public"})
    assert r.status_code == 403
    r = await api.get(f"/shot-types/{created['id']}", as_=user)
    assert r.json()["visibility"] == "private"


async def test_update_and_delete_private_shot_type(api: Api, user: UserHandle) -> None:
    created = await api.create("/shot-types/", {"name": "Old", "framing": "Detail"}, as_=user)
    path = f"/shot-types/{created['id']}"
    r = await api.patch(path, as_=user, json={"name": "New", "view_angle": "Back"})
    assert r.status_code == 200
    assert (r.json()["name"], r.json()["framing"], r.json()["view_angle"]) == (
        "New",
        "Detail",
        "Back",
    )
    assert (await api.delete(path, as_=user)).status_code == 204
    assert (await api.get(path, as_=user)).status_code == 404


async def test_update_shot_type_of_other_user_is_not_found(
    api: Api, user: UserHandle, other_user: UserHandle
) -> None:
    created = await api.create("/shot-types/", {"name": "Theirs"}, as_=other_user)
    r = await api.patch(f"/shot-types/{created['id']}", as_=user, json={"name": "Mine"})
    assert r.status_code == 404
    assert (await api.delete(f"/shot-types/{created['id']}", as_=user)).status_code == 404


async def test_delete_shot_type_used_by_a_shot_conflicts(
    api: Api, app: FastAPI, user: UserHandle
) -> None:
    created = await api.create("/shot-types/", {"name": "In use"}, as_=user)
    shot_type_id = uuid.UUID(created["id"])
    async with app.state.sessionmaker() as session:
        shooting = Shooting(name="Campaign", owner_id=uuid.UUID(user.id))
        session.add(shooting)
        await session.flush()
        look = ShootingLook(shooting_id=shooting.id, owner_id=shooting.owner_id)
        session.add(look)
        await session.flush()
        session.add(
            Shot(
                shooting_id=shooting.id,
                look_id=look.id,
                shot_type_id=shot_type_id,
                owner_id=shooting.owner_id,
            )
        )
        await session.commit()

    r = await api.delete(f"/shot-types/{created['id']}", as_=user)
    assert r.status_code == 409 and "used by 1 shot" in r.json()["detail"]
    assert (await api.get(f"/shot-types/{created['id']}", as_=user)).status_code == 200


async def test_create_shot_type_with_invalid_view_angle_is_rejected(
    api: Api, user: UserHandle
) -> None:
    r = await api.post("/shot-types/", as_=user, json={"name": "X", "view_angle": "Top"})
    assert r.status_code == 422 and r.json()["detail"][0]["loc"] == ["body", "view_angle"]


async def test_update_shot_type_visibility_as_superuser_moves_it(
    api: Api, superuser: UserHandle, user: UserHandle
) -> None:
    org = {"organization_id": user.orgs[0]}  # superusers may act in any organization
    body = {"name": unique("Promo")}
    created = await api.create("/shot-types/", body, as_=superuser, org=user.orgs[0])
    path = f"/shot-types/{created['id']}"
    r = await api.patch(path, as_=superuser, params=org, json={"visibility": "public"})
    assert r.status_code == 200 and r.json()["organization_id"] is None
    assert (await api.get(path, as_=user)).status_code == 200
    r = await api.patch(path, as_=superuser, params=org, json={"visibility": "private"})
    assert r.json()["organization_id"] == user.orgs[0]
    assert (await api.get(path, as_=user)).status_code == 404
    assert (await api.get(path, as_=user, params=org)).status_code == 200
