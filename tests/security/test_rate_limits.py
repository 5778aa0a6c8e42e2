"""Rate limits: per address on auth routes, failed logins per account and address, per user
on job starts; shared by every API process through Redis; 429 with Retry-After and
RateLimit-* headers. And password hashing never runs on the event loop."""

from __future__ import annotations

import asyncio
import threading
import uuid
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from typing import Any

import httpx
import pytest
from fastapi import FastAPI

from api.main import create_app
from api.rate_limits import RateLimiter
from core import security
from core.config import Settings
from tests.helpers import PASSWORD, Api

V1 = "/api/v1"


def limited(settings: Settings, **limits: Any) -> Settings:
    return settings.model_copy(update={"RATE_LIMITS_ENABLED": True, **limits})


@asynccontextmanager
async def api_process(settings: Settings) -> AsyncIterator[FastAPI]:
    """Another API process (its own app, pools and limiter) on the same Redis."""
    app = create_app(settings)
    async with app.router.lifespan_context(app):
        yield app


def client_from(app: FastAPI, address: str) -> httpx.AsyncClient:
    transport = httpx.ASGITransport(app=app, client=(address, 40000))
    return httpx.AsyncClient(transport=transport, base_url="http://testserver")


def _address() -> str:
    # A fresh address per test: counters live in the session's Redis.
    n = uuid.uuid4().int
    return f"203.0.{n % 250}.{(n >> 8) % 250 + 1}"


async def _login(client: httpx.AsyncClient, email: str, password: str) -> httpx.Response:
    return await client.post(
        f"{V1}/login/access-token", data={"username": email, "password": password}
    )


def _assert_limited(r: httpx.Response, limit: int) -> None:
    assert r.status_code == 429, r.text
    assert int(r.headers["Retry-After"]) >= 1
    assert r.headers["RateLimit-Limit"] == str(limit)
    assert r.headers["RateLimit-Remaining"] == "0"
    assert int(r.headers["RateLimit-Reset"]) >= 0
    assert r.headers["RateLimit-Policy"].startswith(f"{limit};w=")


async def test_logins_are_limited_per_client_address(settings: Settings) -> None:
    async with api_process(limited(settings, RATE_LIMIT_LOGIN="3/minute")) as app:
        attacker, bystander = _address(), _address()
        async with client_from(app, attacker) as c, client_from(app, bystander) as other:
            for _ in range(3):
                r = await _login(c, f"{uuid.uuid4().hex}@example.com", "wrong-password")
                assert r.status_code == 401
            _assert_limited(await _login(c, "anyone@example.com", "x"), 3)
            # another address is not affected
            r = await _login(other, "anyone@example.com", "wrong-password")
            assert r.status_code == 401


async def test_failed_logins_stop_the_guesser_not_the_owner(api: Api, settings: Settings) -> None:
    victim = await api.new_user(with_org=False)
    config = limited(settings, RATE_LIMIT_LOGIN_FAILURES="3 per 15 minutes")
    async with api_process(config) as app:
        guesser, owner = _address(), _address()
        async with client_from(app, guesser) as g, client_from(app, owner) as o:
            for _ in range(3):
                assert (await _login(g, victim.email, "not-the-password")).status_code == 401
            # the guesser's address is stopped for this account, even with the right password
            _assert_limited(await _login(g, victim.email, PASSWORD), 3)
            # ... but not for other accounts
            r = await _login(g, f"{uuid.uuid4().hex}@example.com", "x")
            assert r.status_code == 401
            # and the owner, from their own address, is not locked out
            r = await _login(o, victim.email, PASSWORD)
            assert r.status_code == 200
            assert int(r.headers["RateLimit-Remaining"]) >= 0  # the per-address login rule
            # successful logins are not failures: they never use the budget up
            for _ in range(5):
                assert (await _login(o, victim.email, PASSWORD)).status_code == 200


async def test_limits_are_shared_by_every_api_process(settings: Settings) -> None:
    config = limited(settings, RATE_LIMIT_SIGNUP="2/hour")
    address = _address()

    async def signup(client: httpx.AsyncClient) -> httpx.Response:
        body = {"email": f"{uuid.uuid4().hex}@example.com", "password": PASSWORD}
        return await client.post(f"{V1}/users/signup", json=body)

    async with (
        api_process(config) as first,
        api_process(config) as second,
        client_from(first, address) as a,
        client_from(second, address) as b,
    ):
        assert (await signup(a)).status_code == 201
        assert (await signup(b)).status_code == 201
        _assert_limited(await signup(a), 2)
        _assert_limited(await signup(b), 2)


@pytest.mark.parametrize(
    ("setting", "path"),
    [
        ("RATE_LIMIT_PASSWORD_RECOVERY", "/password-recovery/someone@example.com"),
        ("RATE_LIMIT_REFRESH", "/login/refresh"),
    ],
)
async def test_recovery_and_refresh_are_limited_per_address(
    settings: Settings, setting: str, path: str
) -> None:
    body = {"refresh_token": "x" * 40} if "refresh" in path else None
    async with (
        api_process(limited(settings, **{setting: "2/minute"})) as app,
        client_from(app, _address()) as c,
    ):
        for _ in range(2):
            assert (await c.post(f"{V1}{path}", json=body)).status_code != 429
        _assert_limited(await c.post(f"{V1}{path}", json=body), 2)


JobStart = Callable[[httpx.AsyncClient, dict[str, str], str], Any]


async def _export(c: httpx.AsyncClient, headers: dict[str, str], org: str) -> httpx.Response:
    # An invalid body still counts: the limit is checked before the work is looked at.
    return await c.post(f"{V1}/exports/", headers=headers, params={"organization_id": org}, json={})


async def _generation(c: httpx.AsyncClient, headers: dict[str, str], org: str) -> httpx.Response:
    body = {"shot_id": str(uuid.uuid4())}
    return await c.post(
        f"{V1}/generations", headers=headers, params={"organization_id": org}, json=body
    )


async def _bulk(c: httpx.AsyncClient, headers: dict[str, str], org: str) -> httpx.Response:
    files = {"file": ("p.csv", b"sku,name\nA,B\n", "text/csv")}
    return await c.post(
        f"{V1}/bulk-uploads/", headers=headers, params={"organization_id": org}, files=files
    )


async def _invite(c: httpx.AsyncClient, headers: dict[str, str], org: str) -> httpx.Response:
    body = {"email": f"{uuid.uuid4().hex}@example.com"}
    return await c.post(f"{V1}/organizations/{org}/members", headers=headers, json=body)


@pytest.mark.parametrize(
    ("setting", "start"),
    [
        ("RATE_LIMIT_INVITATIONS", _invite),
        ("RATE_LIMIT_EXPORTS", _export),
        ("RATE_LIMIT_GENERATIONS", _generation),
        ("RATE_LIMIT_BULK_UPLOADS", _bulk),
    ],
)
async def test_job_starts_are_limited_per_user(
    api: Api, settings: Settings, setting: str, start: JobStart
) -> None:
    user, other = await api.new_user(), await api.new_user()
    async with api_process(limited(settings, **{setting: "2/minute"})) as app:
        # one address for both users: the key is the user, not the address
        address = _address()
        async with client_from(app, address) as c:
            for _ in range(2):
                assert (await start(c, user.headers, user.orgs[0])).status_code != 429
            _assert_limited(await start(c, user.headers, user.orgs[0]), 2)
            assert (await start(c, other.headers, other.orgs[0])).status_code != 429


async def test_a_forwarded_address_counts_only_behind_a_trusted_proxy(
    settings: Settings,
) -> None:
    proxy = _address()
    untrusted = limited(settings, RATE_LIMIT_LOGIN="2/minute")
    trusted = untrusted.model_copy(update={"TRUSTED_PROXIES": [proxy]})

    async def attempts(app: FastAPI, forwarded: list[str]) -> list[int]:
        async with client_from(app, proxy) as c:
            codes = []
            for address in forwarded:
                r = await c.post(
                    f"{V1}/login/access-token",
                    data={"username": "x@example.com", "password": "x"},
                    headers={"X-Forwarded-For": address},
                )
                codes.append(r.status_code)
            return codes

    # Without trust, spoofing X-Forwarded-For does not give an attacker fresh budgets.
    async with api_process(untrusted) as app:
        assert await attempts(app, [_address(), _address(), _address()]) == [401, 401, 429]
    # Behind the trusted proxy, each client has its own budget.
    async with api_process(trusted) as app:
        assert await attempts(app, [_address(), _address(), _address()]) == [401, 401, 401]


async def test_an_unreachable_redis_lets_requests_through(settings: Settings) -> None:
    limiter = RateLimiter(settings.model_copy(update={"REDIS_URL": "redis://127.0.0.1:1/0"}))
    decision = await limiter.hit("login", "198.51.100.7")
    assert decision.allowed


async def test_password_hashing_runs_off_the_event_loop() -> None:
    """Argon2 takes ~170 ms of CPU per verify: on the loop, a few bad logins a second
    freeze an API process. Every hash and verify runs in the bounded pool."""
    seen: list[str] = []
    real = security._hasher

    class Recording:
        def hash(self, password: str) -> str:
            seen.append(threading.current_thread().name)
            return real.hash(password)

        def verify_and_update(self, password: str, hashed: str) -> tuple[bool, str | None]:
            seen.append(threading.current_thread().name)
            return real.verify_and_update(password, hashed)

    security._hasher = Recording()  # type: ignore[assignment]
    try:
        hashed = await security.hash_password("pw")
        results = await asyncio.gather(*(security.verify_password("pw", hashed) for _ in range(8)))
        await security.verify_against_dummy("pw")
    finally:
        security._hasher = real
    assert all(valid for valid, _ in results)
    loop_thread = threading.current_thread().name
    assert seen and all(name != loop_thread for name in seen), seen
    assert all(name.startswith("password-hash") for name in seen)
    # bounded: never more threads than the pool's size
    assert len(set(seen)) <= security.PASSWORD_HASH_THREADS


def test_the_fast_test_hasher_is_refused_outside_test() -> None:
    for environment in ("development", "staging", "production"):
        with pytest.raises(RuntimeError):
            security.use_fast_password_hashing(environment)
