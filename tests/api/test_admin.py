"""Superuser administration of users and settings."""

from __future__ import annotations

from tests.helpers import PASSWORD, Api, UserHandle


async def test_admin_routes_need_a_superuser(api: Api, user: UserHandle) -> None:
    for path in ("/admin/users", "/admin/settings"):
        r = await api.get(path, as_=user)
        assert r.status_code == 403
        assert r.json() == {"detail": "Not enough permissions"}


async def test_superuser_creates_lists_and_updates_users(api: Api, superuser: UserHandle) -> None:
    created = await api.post(
        "/admin/users",
        as_=superuser,
        json={"email": "staff-member@example.com", "password": PASSWORD, "full_name": "Staff"},
    )
    assert created.status_code == 201, created.text
    user_id = created.json()["id"]

    found = await api.get("/admin/users", as_=superuser, params={"search": "staff-member"})
    assert [u["id"] for u in found.json()["data"]] == [user_id]

    updated = await api.patch(f"/admin/users/{user_id}", as_=superuser, json={"full_name": "S."})
    assert updated.json()["full_name"] == "S."
    await api.login("staff-member@example.com", PASSWORD)


async def test_superuser_cannot_deactivate_itself(api: Api, superuser: UserHandle) -> None:
    r = await api.post(f"/admin/users/{superuser.id}/deactivate", as_=superuser)
    assert r.status_code == 400


async def test_settings_have_defaults_and_keep_their_type(api: Api, superuser: UserHandle) -> None:
    listed = await api.get("/admin/settings", as_=superuser)
    keys = {s["key"]: s["value"] for s in listed.json()["data"]}
    assert keys["signup_enabled"] is True

    wrong = await api.put("/admin/settings/signup_enabled", as_=superuser, json={"value": "yes"})
    assert wrong.status_code == 400

    custom = await api.put(
        "/admin/settings/banner_text", as_=superuser, json={"value": "Maintenance at 6"}
    )
    assert custom.status_code == 200
    assert (await api.get("/admin/settings/banner_text", as_=superuser)).json()["value"] == (
        "Maintenance at 6"
    )
    assert (await api.delete("/admin/settings/banner_text", as_=superuser)).status_code == 204
    assert (await api.get("/admin/settings/banner_text", as_=superuser)).status_code == 404


async def test_an_integer_beyond_the_column_is_a_422(
    api: Api, superuser: UserHandle, user: UserHandle
) -> None:
    # Found by the schemathesis fuzz: 2**35 passed validation and failed encoding into the
    # int4 column (a 500).
    r = await api.patch(f"/admin/users/{user.id}", as_=superuser, json={"rework_available": 2**35})
    assert r.status_code == 422, r.text
    assert r.json()["detail"][0]["loc"] == ["body", "rework_available"]
    ok = await api.patch(
        f"/admin/users/{user.id}", as_=superuser, json={"rework_available": 2**31 - 1}
    )
    assert ok.status_code == 200 and ok.json()["rework_available"] == 2**31 - 1
