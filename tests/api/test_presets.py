"""Background and resolution presets: scope presets plus read-only system presets, seeding."""

from __future__ import annotations

import uuid

from fastapi import FastAPI
from sqlalchemy import func, select

from models.preset import BackgroundPreset, ResolutionPreset
from services.presets import SYSTEM_BACKGROUNDS, SYSTEM_RESOLUTIONS, ensure_system_presets
from tests.helpers import Api, UserHandle


def unique(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:8]}"


async def test_create_and_read_resolution_preset(api: Api, user: UserHandle) -> None:
    org = user.orgs[0]
    body = {"name": "Banner", "width": 1920, "height": 640}
    created = await api.create("/resolution-presets/", body, as_=user, org=org)
    assert created["is_system"] is False
    assert created["organization_id"] == org and created["owner_id"] == user.id
    r = await api.get(
        f"/resolution-presets/{created['id']}", as_=user, params={"organization_id": org}
    )
    assert r.status_code == 200 and r.json()["width"] == 1920


async def test_create_and_read_background_preset(api: Api, user: UserHandle) -> None:
    created = await api.create(
        "/background-presets/", {"name": "Beige", "color": "#F5F5DC"}, as_=user
    )
    r = await api.get(f"/background-presets/{created['id']}", as_=user)
    assert r.status_code == 200 and r.json()["color"] == "#F5F5DC"


async def test_read_preset_of_other_organization_is_not_found(
    api: Api, user: UserHandle, other_user: UserHandle
) -> None:
    created = await api.create("/background-presets/", {"name": "Ours"}, as_=user, org=user.orgs[0])
    for params in ({}, {"organization_id": other_user.orgs[0]}):
        r = await api.get(f"/background-presets/{created['id']}", as_=other_user, params=params)
        assert r.status_code == 404
    r = await api.get(
        "/background-presets/", as_=other_user, params={"organization_id": user.orgs[0]}
    )
    assert r.status_code == 404


async def test_create_system_preset_as_user_is_forbidden(api: Api, user: UserHandle) -> None:
    r = await api.post(
        "/resolution-presets/",
        as_=user,
        params={"system": True},
        json={"name": "Mine", "width": 512, "height": 512},
    )
    assert r.status_code == 403


async def test_system_preset_is_listed_for_everybody_and_read_only(
    api: Api, superuser: UserHandle, user: UserHandle
) -> None:
    name = unique("Sys")
    r = await api.post(
        "/resolution-presets/",
        as_=superuser,
        params={"system": True},
        json={"name": name, "width": 2048, "height": 2048},
    )
    assert r.status_code == 201
    system = r.json()
    assert system["is_system"] is True
    assert system["owner_id"] is None and system["organization_id"] is None

    params = {"organization_id": user.orgs[0], "search": name}
    r = await api.get("/resolution-presets/", as_=user, params=params)
    assert [p["id"] for p in r.json()["data"]] == [system["id"]]
    path = f"/resolution-presets/{system['id']}"
    assert (await api.get(path, as_=user)).status_code == 200
    assert (await api.patch(path, as_=user, json={"name": "Hijack"})).status_code == 403
    assert (await api.delete(path, as_=user)).status_code == 403
    r = await api.patch(path, as_=superuser, json={"width": 1536})
    assert r.status_code == 200 and r.json()["width"] == 1536
    assert (await api.delete(path, as_=superuser)).status_code == 204


async def test_list_presets_own_plus_system_count_and_pagination(
    api: Api, user: UserHandle, other_user: UserHandle
) -> None:
    tag = unique("Res")
    for i in range(3):
        body = {"name": f"{tag} {i}", "width": 512 + i, "height": 512}
        await api.create("/resolution-presets/", body, as_=user)
    await api.create(
        "/resolution-presets/", {"name": tag, "width": 64, "height": 64}, as_=other_user
    )

    r = await api.get("/resolution-presets/", as_=user, params={"search": tag, "limit": 2})
    assert r.json()["count"] == 3 and len(r.json()["data"]) == 2
    r = await api.get("/resolution-presets/", as_=user, params={"search": tag, "skip": 2})
    assert [p["name"] for p in r.json()["data"]] == [f"{tag} 2"]
    r = await api.get("/resolution-presets/", as_=user)
    body = r.json()
    own = [p for p in body["data"] if not p["is_system"]]
    assert len(own) == 3 and body["count"] == len(body["data"])
    # system presets come first
    flags = [p["is_system"] for p in body["data"]]
    assert flags == sorted(flags, reverse=True)


async def test_update_and_delete_background_preset(api: Api, user: UserHandle) -> None:
    created = await api.create("/background-presets/", {"name": "Old", "color": "#000"}, as_=user)
    path = f"/background-presets/{created['id']}"
    r = await api.patch(path, as_=user, json={"name": "New"})
    assert r.status_code == 200 and r.json()["name"] == "New" and r.json()["color"] == "#000"
    assert (await api.delete(path, as_=user)).status_code == 204
    assert (await api.get(path, as_=user)).status_code == 404


async def test_create_resolution_preset_with_invalid_size_is_rejected(
    api: Api, user: UserHandle
) -> None:
    r = await api.post("/resolution-presets/", as_=user, json={"name": "Tiny", "width": 8})
    assert r.status_code == 422
    locs = {tuple(e["loc"]) for e in r.json()["detail"]}
    assert ("body", "width") in locs and ("body", "height") in locs


async def test_update_resolution_preset_with_null_width_is_rejected(
    api: Api, user: UserHandle
) -> None:
    body = {"name": "Sq", "width": 512, "height": 512}
    created = await api.create("/resolution-presets/", body, as_=user)
    r = await api.patch(f"/resolution-presets/{created['id']}", as_=user, json={"width": None})
    assert r.status_code == 422 and r.json()["detail"][0]["loc"] == ["body", "width"]


async def test_ensure_system_presets_is_idempotent(
    api: Api, app: FastAPI, user: UserHandle
) -> None:
    for _ in range(2):
        async with app.state.sessionmaker() as session:
            await ensure_system_presets(session)
            await session.commit()
    async with app.state.sessionmaker() as session:
        for model, seeds in (
            (ResolutionPreset, SYSTEM_RESOLUTIONS),
            (BackgroundPreset, SYSTEM_BACKGROUNDS),
        ):
            names = [s["name"] for s in seeds]
            query = (
                select(model.name, func.count())
                .where(model.is_system.is_(True), model.name.in_(names))
                .group_by(model.name)
            )
            counts = dict((await session.execute(query)).all())
            assert counts == dict.fromkeys(names, 1)

    r = await api.get("/resolution-presets/", as_=user, params={"search": "Square"})
    square = next(p for p in r.json()["data"] if p["name"] == "Square")
    assert (square["width"], square["height"], square["is_system"]) == (1024, 1024, True)
