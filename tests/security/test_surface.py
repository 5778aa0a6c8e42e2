"""Operational internals (/metrics, the system health check) answer only to a superuser or
to METRICS_TOKEN; the public liveness check says nothing but `true`."""

from __future__ import annotations

import hmac
from collections.abc import Iterator
from typing import Any

import pytest
from fastapi import FastAPI
from pydantic import ValidationError

from core.config import Settings
from tests.helpers import Api, UserHandle

METRICS_TOKEN = "scraper-token-0123456789abcdef"
# Both, by their full path: /metrics lives at the root, where scrapers look.
INTERNALS = ("/metrics", "/api/v1/utils/system-health-check")


@pytest.fixture
def with_metrics_token(app: FastAPI) -> Iterator[str]:
    # By hand: monkeypatch's undo deletes an attribute of starlette's State instead of
    # restoring it.
    original = app.state.settings
    app.state.settings = original.model_copy(update={"METRICS_TOKEN": METRICS_TOKEN})
    try:
        yield METRICS_TOKEN
    finally:
        app.state.settings = original


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


@pytest.mark.parametrize("path", INTERNALS)
async def test_internals_refuse_anonymous_and_bad_tokens(
    api: Api, with_metrics_token: str, path: str
) -> None:
    anonymous = await api.client.get(path)
    assert anonymous.status_code == 401, anonymous.text
    assert anonymous.headers["www-authenticate"] == "Bearer"
    for token in ("not-a-jwt", METRICS_TOKEN[:-1] + "X", METRICS_TOKEN + "x"):
        r = await api.client.get(path, headers=bearer(token))
        assert r.status_code == 401, (token, r.text)
    basic = await api.client.get(path, headers={"Authorization": f"Basic {METRICS_TOKEN}"})
    assert basic.status_code == 401


@pytest.mark.parametrize("path", INTERNALS)
async def test_internals_refuse_a_member_and_answer_a_superuser_or_the_token(
    api: Api, user: UserHandle, superuser: UserHandle, with_metrics_token: str, path: str
) -> None:
    member = await api.client.get(path, headers=user.headers)
    assert member.status_code == 403, member.text
    for headers in (superuser.headers, bearer(with_metrics_token)):
        r = await api.client.get(path, headers=headers)
        assert r.status_code == 200, r.text
    if path == "/metrics":
        assert "sartiq_http_request_duration_seconds" in r.text
    else:
        assert {c["name"] for c in r.json()["checks"]} >= {"database", "redis"}


async def test_without_a_metrics_token_only_superusers_get_in(
    api: Api, superuser: UserHandle
) -> None:
    # the session's settings have no METRICS_TOKEN: an empty bearer must not match it
    assert api.settings.METRICS_TOKEN is None
    assert (await api.client.get("/metrics", headers=bearer(""))).status_code == 401
    assert (await api.client.get("/metrics", headers=superuser.headers)).status_code == 200


async def test_the_metrics_token_is_compared_in_constant_time_over_bytes(
    api: Api, with_metrics_token: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    seen: list[tuple[Any, Any]] = []
    real = hmac.compare_digest

    def spy(a: Any, b: Any) -> bool:
        seen.append((a, b))
        return real(a, b)

    monkeypatch.setattr(hmac, "compare_digest", spy)
    r = await api.client.get("/metrics", headers=bearer(with_metrics_token))
    assert r.status_code == 200
    assert seen and all(isinstance(a, bytes) and isinstance(b, bytes) for a, b in seen)


def test_a_short_metrics_token_is_refused() -> None:
    with pytest.raises(ValidationError, match="METRICS_TOKEN"):
        Settings(_env_file=None, ENVIRONMENT="development", METRICS_TOKEN="short")


async def test_the_public_health_check_stays_open_and_says_nothing_internal(api: Api) -> None:
    r = await api.client.get("/api/v1/utils/health-check/")
    assert r.status_code == 200
    assert r.content == b"true"  # no version, host, dependency or error in it
    # while the detailed one, next to it, is closed to the same anonymous caller
    assert (await api.client.get("/api/v1/utils/system-health-check")).status_code == 401
