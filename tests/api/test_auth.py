"""Login, refresh rotation, logout, signup, password recovery."""

from __future__ import annotations

import pytest

from tests.helpers import PASSWORD, Api, UserHandle
from tests.mailbox import Mailbox


async def test_login_returns_access_and_refresh_tokens(api: Api, user: UserHandle) -> None:
    r = await api.post("/login/access-token", data={"username": user.email, "password": PASSWORD})
    assert r.status_code == 200
    body = r.json()
    assert body["token_type"] == "bearer"
    assert body["expires_in"] == 3600
    assert body["access_token"] and body["refresh_token"]


async def test_login_is_case_insensitive_on_email(api: Api, user: UserHandle) -> None:
    r = await api.post(
        "/login/access-token", data={"username": user.email.upper(), "password": PASSWORD}
    )
    assert r.status_code == 200


@pytest.mark.parametrize("which", ["password", "email"])
async def test_login_with_wrong_credentials_is_401(api: Api, user: UserHandle, which: str) -> None:
    data = {"username": user.email, "password": PASSWORD}
    data["password" if which == "password" else "username"] = "nobody-" + data["username"]
    r = await api.post("/login/access-token", data=data)
    assert r.status_code == 401
    assert r.json() == {"detail": "Incorrect email or password"}


async def test_test_token_returns_the_user(api: Api, user: UserHandle) -> None:
    r = await api.post("/login/test-token", as_=user)
    assert r.status_code == 200
    assert r.json()["email"] == user.email
    assert "hashed_password" not in r.json()


async def test_refresh_rotates_the_token(api: Api, user: UserHandle) -> None:
    r = await api.post("/login/refresh", json={"refresh_token": user.refresh_token})
    assert r.status_code == 200
    new = r.json()
    assert new["refresh_token"] != user.refresh_token
    me = await api.get("/users/me", headers={"Authorization": f"Bearer {new['access_token']}"})
    assert me.status_code == 200


async def test_reusing_a_rotated_refresh_token_revokes_the_session(
    api: Api, user: UserHandle
) -> None:
    first = await api.post("/login/refresh", json={"refresh_token": user.refresh_token})
    rotated = first.json()

    reuse = await api.post("/login/refresh", json={"refresh_token": user.refresh_token})
    assert reuse.status_code == 401

    # the whole family is gone: the legitimate new tokens stop working too
    again = await api.post("/login/refresh", json={"refresh_token": rotated["refresh_token"]})
    assert again.status_code == 401
    me = await api.get("/users/me", headers={"Authorization": f"Bearer {rotated['access_token']}"})
    assert me.status_code == 401


async def test_logout_ends_the_session(api: Api, user: UserHandle) -> None:
    r = await api.post("/logout", as_=user, json={"refresh_token": user.refresh_token})
    assert r.status_code == 200
    assert (await api.get("/users/me", as_=user)).status_code == 401
    refresh = await api.post("/login/refresh", json={"refresh_token": user.refresh_token})
    assert refresh.status_code == 401


async def test_logout_leaves_other_sessions_alone(api: Api, user: UserHandle) -> None:
    second = await api.login(user.email, PASSWORD)
    await api.post("/logout", as_=user)
    assert (await api.get("/users/me", as_=second)).status_code == 200


async def test_signup_rejects_a_taken_email(api: Api, user: UserHandle) -> None:
    r = await api.post("/users/signup", json={"email": user.email, "password": PASSWORD})
    assert r.status_code == 409


async def test_signup_is_refused_when_disabled(api: Api, superuser: UserHandle) -> None:
    r = await api.put("/admin/settings/signup_enabled", as_=superuser, json={"value": False})
    assert r.status_code == 200
    try:
        denied = await api.post(
            "/users/signup", json={"email": "late@example.com", "password": PASSWORD}
        )
        assert denied.status_code == 403
    finally:
        await api.put("/admin/settings/signup_enabled", as_=superuser, json={"value": True})


async def test_update_me_changes_name_and_password(api: Api, user: UserHandle) -> None:
    r = await api.patch("/users/me", as_=user, json={"full_name": "Ada"})
    assert r.status_code == 200 and r.json()["full_name"] == "Ada"

    wrong = await api.patch(
        "/users/me", as_=user, json={"current_password": "nope", "new_password": "another-secret"}
    )
    assert wrong.status_code == 400

    ok = await api.patch(
        "/users/me", as_=user, json={"current_password": PASSWORD, "new_password": "another-secret"}
    )
    assert ok.status_code == 200
    await api.login(user.email, "another-secret")


async def test_password_recovery_and_reset(api: Api, user: UserHandle, mailbox: Mailbox) -> None:
    r = await api.post(f"/password-recovery/{user.email}")
    assert r.status_code == 200
    # The reset link arrives by mail, through the tests' SMTP server.
    token = await mailbox.link(user.email, r"reset-password\?token=([\w\-.]+)")

    reset = await api.post(
        "/reset-password/", json={"token": token, "new_password": "brand-new-pw"}
    )
    assert reset.status_code == 200
    await api.login(user.email, "brand-new-pw")
    # the old sessions ended, and the token is single-use
    assert (await api.get("/users/me", as_=user)).status_code == 401
    again = await api.post("/reset-password/", json={"token": token, "new_password": "x" * 10})
    assert again.status_code == 400


async def test_password_recovery_does_not_reveal_unknown_emails(api: Api) -> None:
    r = await api.post("/password-recovery/nobody-here@example.com")
    assert r.status_code == 200


async def test_first_superuser_exists(api: Api, superuser: UserHandle) -> None:
    me = await api.get("/users/me", as_=superuser)
    assert me.json()["is_superuser"] is True
