"""Styles: CRUD, search, pagination, tenancy."""

from __future__ import annotations

from tests.helpers import Api, UserHandle


async def test_create_and_read_style_in_organization(api: Api, user: UserHandle) -> None:
    org = user.orgs[0]
    created = await api.create(
        "/styles/", {"name": "Editorial", "prompt": "high fashion"}, as_=user, org=org
    )
    assert created["organization_id"] == org and created["owner_id"] == user.id

    r = await api.get(f"/styles/{created['id']}", as_=user, params={"organization_id": org})
    assert r.status_code == 200 and r.json()["prompt"] == "high fashion"


async def test_read_style_of_organization_in_personal_scope_is_not_found(
    api: Api, user: UserHandle
) -> None:
    created = await api.create("/styles/", {"name": "Org style"}, as_=user, org=user.orgs[0])
    assert (await api.get(f"/styles/{created['id']}", as_=user)).status_code == 404
    personal = await api.get("/styles/", as_=user)
    assert personal.json()["count"] == 0


async def test_read_style_of_other_organization_is_not_found(
    api: Api, user: UserHandle, other_user: UserHandle
) -> None:
    created = await api.create("/styles/", {"name": "Secret"}, as_=user, org=user.orgs[0])
    r = await api.get(
        f"/styles/{created['id']}", as_=other_user, params={"organization_id": user.orgs[0]}
    )
    assert r.status_code == 404
    r = await api.get(
        f"/styles/{created['id']}", as_=other_user, params={"organization_id": other_user.orgs[0]}
    )
    assert r.status_code == 404
    r = await api.patch(
        f"/styles/{created['id']}",
        as_=other_user,
        params={"organization_id": other_user.orgs[0]},
        json={"name": "Stolen"},
    )
    assert r.status_code == 404


async def test_list_styles_search_count_and_pagination(api: Api, user: UserHandle) -> None:
    for i in range(3):
        await api.create("/styles/", {"name": f"Minimal {i}"}, as_=user)
    await api.create("/styles/", {"name": "Baroque", "description": "ornate 100%"}, as_=user)

    r = await api.get("/styles/", as_=user, params={"search": "MINIMAL", "limit": 2})
    body = r.json()
    assert body["count"] == 3 and len(body["data"]) == 2
    r = await api.get("/styles/", as_=user, params={"search": "minimal", "skip": 2})
    assert len(r.json()["data"]) == 1
    # LIKE wildcards in the search text are literal
    r = await api.get("/styles/", as_=user, params={"search": "100%"})
    assert [s["name"] for s in r.json()["data"]] == ["Baroque"]
    r = await api.get("/styles/", as_=user, params={"search": "%"})
    assert r.json()["count"] == 1


async def test_list_styles_limit_above_maximum_is_rejected(api: Api, user: UserHandle) -> None:
    r = await api.get("/styles/", as_=user, params={"limit": 501})
    assert r.status_code == 422


async def test_update_and_delete_style(api: Api, user: UserHandle) -> None:
    created = await api.create("/styles/", {"name": "Old", "prompt": "p"}, as_=user)
    r = await api.patch(f"/styles/{created['id']}", as_=user, json={"name": "New"})
    assert r.status_code == 200
    assert r.json()["name"] == "New" and r.json()["prompt"] == "p"
    assert (await api.delete(f"/styles/{created['id']}", as_=user)).status_code == 204
    assert (await api.get(f"/styles/{created['id']}", as_=user)).status_code == 404
    assert (await api.delete(f"/styles/{created['id']}", as_=user)).status_code == 404


async def test_create_style_without_name_is_rejected(api: Api, user: UserHandle) -> None:
    r = await api.post("/styles/", as_=user, json={"prompt": "no name"})
    assert r.status_code == 422
    assert any(e["loc"][-1] == "name" for e in r.json()["detail"])


async def test_update_style_with_null_name_is_rejected(api: Api, user: UserHandle) -> None:
    created = await api.create("/styles/", {"name": "Keep"}, as_=user)
    r = await api.patch(f"/styles/{created['id']}", as_=user, json={"name": None})
    assert r.status_code == 422 and r.json()["detail"][0]["loc"] == ["body", "name"]
    r = await api.get(f"/styles/{created['id']}", as_=user)
    assert r.json()["name"] == "Keep"


async def test_list_styles_in_foreign_organization_is_not_found(
    api: Api, user: UserHandle, other_user: UserHandle
) -> None:
    r = await api.get("/styles/", as_=other_user, params={"organization_id": user.orgs[0]})
    assert r.status_code == 404
