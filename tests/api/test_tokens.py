"""Every way an access token can be wrong answers 401."""

from __future__ import annotations

import base64
import json
import uuid
from datetime import UTC, datetime, timedelta

import jwt
import pytest

from core.config import Settings
from tests.helpers import Api, UserHandle


def _b64(data: dict) -> str:
    return base64.urlsafe_b64encode(json.dumps(data).encode()).rstrip(b"=").decode()


def _claims(user: UserHandle, **over: object) -> dict:
    now = datetime.now(UTC)
    claims = {"sub": user.id, "type": "access", "iat": now, "exp": now + timedelta(hours=1)}
    claims.update(over)
    return claims


async def test_missing_token_is_401(api: Api) -> None:
    r = await api.get("/users/me")
    assert r.status_code == 401
    assert r.json() == {"detail": "Not authenticated"}
    assert r.headers["www-authenticate"] == "Bearer"


@pytest.mark.parametrize(
    "case", ["bad_signature", "expired", "alg_none", "garbage", "wrong_type", "unknown_user"]
)
async def test_invalid_token_is_401(
    api: Api, user: UserHandle, settings: Settings, case: str
) -> None:
    secret = settings.JWT_SECRET
    if case == "bad_signature":
        token = jwt.encode(_claims(user), "not-the-secret-" * 4, algorithm="HS256")
    elif case == "expired":
        past = datetime.now(UTC) - timedelta(hours=2)
        token = jwt.encode(
            _claims(user, iat=past, exp=past + timedelta(hours=1)), secret, algorithm="HS256"
        )
    elif case == "alg_none":
        payload = _claims(user)
        payload["iat"] = int(payload["iat"].timestamp())
        payload["exp"] = int(payload["exp"].timestamp())
        token = f"{_b64({'alg': 'none', 'typ': 'JWT'})}.{_b64(payload)}."
    elif case == "garbage":
        token = "not-a-jwt"
    elif case == "wrong_type":
        token = jwt.encode(_claims(user, type="reset"), secret, algorithm="HS256")
    else:
        token = jwt.encode(_claims(user, sub=str(uuid.uuid4())), secret, algorithm="HS256")
    r = await api.get("/users/me", headers={"Authorization": f"Bearer {token}"})
    assert r.status_code == 401
    assert r.json() == {"detail": "Could not validate credentials"}


async def test_deactivated_user_token_is_401(
    api: Api, user: UserHandle, superuser: UserHandle
) -> None:
    assert (await api.get("/users/me", as_=user)).status_code == 200
    r = await api.post(f"/admin/users/{user.id}/deactivate", as_=superuser)
    assert r.status_code == 200 and r.json()["is_active"] is False
    assert (await api.get("/users/me", as_=user)).status_code == 401
    login = await api.post(
        "/login/access-token", data={"username": user.email, "password": user.password}
    )
    assert login.status_code == 401
