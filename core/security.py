"""Password hashing, JWTs (access and reset tokens) and opaque refresh tokens."""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import os
import secrets
import threading
import uuid
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta
from typing import Any, Literal, TypeVar

import jwt
from pwdlib import PasswordHash
from pwdlib.hashers.argon2 import Argon2Hasher

from core.config import Settings

T = TypeVar("T")

_hasher = PasswordHash((Argon2Hasher(),))

# Argon2 at the default parameters takes ~170 ms of CPU (and 64 MiB of memory) per hash or
# verify. On the event loop, six bad logins a second froze an API process; in this bounded
# pool (argon2-cffi releases the GIL) a flood queues instead of multiplying threads, and the
# rate limits bound the queue. Measured on a 2-core machine (bench P6, and the loop's lag
# beside 20 verifies in flight), threads alone still left the loop waiting for a core
# (p99 lag 8-10 ms); at the lowest priority, 5-8 ms; kept off the first CPU as well, 1-2 ms
# (idle: ~0.7 ms). So the threads run at low priority on every CPU but the first (on a
# one-CPU machine, on that one).
PASSWORD_HASH_THREADS = 2
HASH_THREAD_NICENESS = 19


def _hash_thread_setup() -> None:
    # Linux applies nice values and CPU affinity per thread (a thread is a task); elsewhere
    # (or where the process may not change them) the pool just runs at normal priority.
    tid = threading.get_native_id()
    with contextlib.suppress(AttributeError, OSError):
        os.setpriority(os.PRIO_PROCESS, tid, HASH_THREAD_NICENESS)
    with contextlib.suppress(AttributeError, OSError):
        cpus = os.sched_getaffinity(0)
        if len(cpus) > 1:
            os.sched_setaffinity(tid, cpus - {min(cpus)})


_pool = ThreadPoolExecutor(
    PASSWORD_HASH_THREADS, thread_name_prefix="password-hash", initializer=_hash_thread_setup
)


def use_fast_password_hashing(environment: str) -> None:
    """Cheap Argon2 parameters, for the test environment only (refused anywhere else): the
    algorithm is unchanged, and hashes made with other parameters still verify."""
    global _hasher
    if environment != "test":
        raise RuntimeError(f"fast password hashing is for tests only, not {environment!r}")
    _hasher = PasswordHash((Argon2Hasher(time_cost=1, memory_cost=1024, parallelism=1),))


TokenType = Literal["access", "reset"]


class InvalidTokenError(Exception):
    """The token is missing a claim, expired, badly signed or of the wrong type."""


async def _off_loop(fn: Callable[..., T], *args: Any) -> T:
    return await asyncio.get_running_loop().run_in_executor(_pool, fn, *args)


async def hash_password(password: str) -> str:
    return await _off_loop(_hasher.hash, password)


async def verify_password(password: str, hashed: str) -> tuple[bool, str | None]:
    """(valid, new hash when the stored one uses outdated parameters)."""
    return await _off_loop(_hasher.verify_and_update, password, hashed)


_dummy_hashes: dict[int, str] = {}


async def verify_against_dummy(password: str) -> None:
    """Spend the same work as a real check when the user does not exist, so timing does
    not reveal which e-mails have accounts (hash made once per hasher configuration)."""
    key = id(_hasher)
    if key not in _dummy_hashes:
        _dummy_hashes[key] = await hash_password("dummy-password-for-timing")
    await verify_password(password, _dummy_hashes[key])


def create_token(
    settings: Settings,
    *,
    subject: uuid.UUID,
    token_type: TokenType,
    expires_in: timedelta,
    extra: dict[str, Any] | None = None,
) -> str:
    now = datetime.now(UTC)
    claims: dict[str, Any] = {
        "sub": str(subject),
        "type": token_type,
        "iat": now,
        "exp": now + expires_in,
        "jti": uuid.uuid4().hex,
    }
    claims.update(extra or {})
    return jwt.encode(claims, settings.JWT_SECRET, algorithm=settings.JWT_ALGORITHM)


def decode_token(settings: Settings, token: str, *, token_type: TokenType) -> dict[str, Any]:
    try:
        # `algorithms` pinned: a token with `alg: none` or another algorithm is refused.
        claims = jwt.decode(
            token,
            settings.JWT_SECRET,
            algorithms=[settings.JWT_ALGORITHM],
            options={"require": ["exp", "sub", "type"]},
        )
    except jwt.PyJWTError as exc:
        raise InvalidTokenError(str(exc)) from exc
    if claims.get("type") != token_type:
        raise InvalidTokenError("wrong token type")
    try:
        uuid.UUID(claims["sub"])
    except (ValueError, TypeError) as exc:
        raise InvalidTokenError("bad subject") from exc
    return claims


def new_refresh_token() -> str:
    return secrets.token_urlsafe(48)


def hash_refresh_token(token: str) -> str:
    # Refresh tokens are high-entropy random strings: a fast hash is enough to store them.
    return hashlib.sha256(token.encode()).hexdigest()


def password_fingerprint(hashed_password: str) -> str:
    """Bound into reset tokens so a token stops working once the password changed."""
    return hashlib.sha256(hashed_password.encode()).hexdigest()[:16]
