"""Password hashing, JWTs (access and reset tokens) and opaque refresh tokens."""

from __future__ import annotations

import hashlib
import secrets
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any, Literal

import jwt
from pwdlib import PasswordHash
from pwdlib.hashers.argon2 import Argon2Hasher

from core.config import Settings

_hasher = PasswordHash((Argon2Hasher(),))


def use_fast_password_hashing() -> None:
    """Cheap Argon2 parameters for the test environment only: the algorithm is unchanged,
    and hashes made with other parameters still verify (they carry their parameters)."""
    global _hasher
    _hasher = PasswordHash((Argon2Hasher(time_cost=1, memory_cost=1024, parallelism=1),))


TokenType = Literal["access", "reset"]


class InvalidTokenError(Exception):
    """The token is missing a claim, expired, badly signed or of the wrong type."""


def hash_password(password: str) -> str:
    return _hasher.hash(password)


def verify_password(password: str, hashed: str) -> tuple[bool, str | None]:
    """(valid, new hash when the stored one uses outdated parameters)."""
    return _hasher.verify_and_update(password, hashed)


_dummy_hashes: dict[int, str] = {}


def verify_against_dummy(password: str) -> None:
    """Spend the same work as a real check when the user does not exist, so timing does
    not reveal which e-mails have accounts (hash made once per hasher configuration)."""
    key = id(_hasher)
    if key not in _dummy_hashes:
        _dummy_hashes[key] = hash_password("dummy-password-for-timing")
    verify_password(password, _dummy_hashes[key])


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
