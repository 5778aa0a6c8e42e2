"""Login, refresh-token rotation with reuse detection, logout, password reset."""

from __future__ import annotations

import logging
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from sqlalchemy import delete, exists, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from core.config import Settings
from core.security import (
    InvalidTokenError,
    create_token,
    decode_token,
    hash_password,
    hash_refresh_token,
    new_refresh_token,
    password_fingerprint,
    verify_against_dummy,
    verify_password,
)
from models.user import Token, User, UserSession
from services import users
from services.errors import BadRequest, Unauthorized

log = logging.getLogger(__name__)

INVALID_CREDENTIALS = "Could not validate credentials"


@dataclass(frozen=True)
class LoginResult:
    user: User
    token: Token


async def authenticate(session: AsyncSession, email: str, password: str) -> User | None:
    """The user if the password matches; hashes are upgraded in place when outdated."""
    user = await users.get_by_email(session, email)
    if user is None:
        await verify_against_dummy(password)
        return None
    valid, new_hash = await verify_password(password, user.hashed_password)
    if not valid:
        return None
    if new_hash:
        user.hashed_password = new_hash
    return user


def _access_token(settings: Settings, user_id: uuid.UUID, family_id: uuid.UUID) -> str:
    return create_token(
        settings,
        subject=user_id,
        token_type="access",
        expires_in=timedelta(minutes=settings.ACCESS_TOKEN_EXPIRE_MINUTES),
        extra={"sid": str(family_id)},
    )


async def _issue(
    session: AsyncSession,
    settings: Settings,
    user: User,
    *,
    family_id: uuid.UUID,
    user_agent: str | None,
) -> Token:
    refresh = new_refresh_token()
    now = datetime.now(UTC)
    refresh_ttl = timedelta(days=settings.REFRESH_TOKEN_EXPIRE_DAYS)
    session.add(
        UserSession(
            user_id=user.id,
            family_id=family_id,
            token_hash=hash_refresh_token(refresh),
            created_at=now,
            expires_at=now + refresh_ttl,
            user_agent=(user_agent or "")[:512] or None,
        )
    )
    await session.flush()
    return Token(
        access_token=_access_token(settings, user.id, family_id),
        expires_in=settings.ACCESS_TOKEN_EXPIRE_MINUTES * 60,
        refresh_token=refresh,
        refresh_expires_in=int(refresh_ttl.total_seconds()),
    )


async def login(
    session: AsyncSession,
    settings: Settings,
    *,
    email: str,
    password: str,
    user_agent: str | None = None,
) -> Token:
    user = await authenticate(session, email, password)
    if user is None:
        raise Unauthorized("Incorrect email or password")
    if not user.is_active:
        raise Unauthorized("Inactive user")
    return await _issue(session, settings, user, family_id=uuid.uuid4(), user_agent=user_agent)


async def refresh(
    session: AsyncSession, settings: Settings, *, refresh_token: str, user_agent: str | None = None
) -> Token:
    """Rotate a refresh token. Presenting an already-rotated token revokes its whole family:
    one of the two holders is an attacker, and we cannot tell which."""
    row = await session.scalar(
        select(UserSession)
        .where(UserSession.token_hash == hash_refresh_token(refresh_token))
        .with_for_update()
    )
    now = datetime.now(UTC)
    if row is None or row.revoked_at is not None or row.expires_at <= now:
        raise Unauthorized("Invalid refresh token")
    if row.rotated_at is not None:
        await revoke_family(session, row.family_id)
        await session.commit()  # the revocation must stick although the request fails
        log.warning("refresh token reuse detected; session family %s revoked", row.family_id)
        raise Unauthorized("Refresh token reuse detected; session revoked")
    user = await session.get(User, row.user_id)
    if user is None or not user.is_active:
        raise Unauthorized("Invalid refresh token")
    row.rotated_at = now
    return await _issue(session, settings, user, family_id=row.family_id, user_agent=user_agent)


async def revoke_family(session: AsyncSession, family_id: uuid.UUID) -> None:
    await session.execute(
        update(UserSession)
        .where(UserSession.family_id == family_id, UserSession.revoked_at.is_(None))
        .values(revoked_at=datetime.now(UTC))
    )


async def logout(
    session: AsyncSession,
    *,
    user_id: uuid.UUID,
    family_id: uuid.UUID | None,
    refresh_token: str | None,
) -> list[uuid.UUID]:
    """Revoke the session of the access token (and of the refresh token, if one is given
    and it is the same user's); the session ids revoked."""
    families = [family_id] if family_id is not None else []
    if refresh_token:
        row = await session.scalar(
            select(UserSession).where(UserSession.token_hash == hash_refresh_token(refresh_token))
        )
        if row is not None and row.user_id == user_id and row.family_id not in families:
            families.append(row.family_id)
    for family in families:
        await revoke_family(session, family)
    return families


async def user_from_access_token(session: AsyncSession, settings: Settings, token: str) -> User:
    """The active user of a valid access token whose session was not revoked (one query)."""
    try:
        claims = decode_token(settings, token, token_type="access")
    except InvalidTokenError as exc:
        raise Unauthorized(INVALID_CREDENTIALS) from exc
    query = select(User).where(User.id == uuid.UUID(claims["sub"]))
    if sid := claims.get("sid"):
        try:
            family_id = uuid.UUID(sid)
        except ValueError as exc:
            raise Unauthorized(INVALID_CREDENTIALS) from exc
        query = query.where(
            exists().where(UserSession.family_id == family_id, UserSession.revoked_at.is_(None))
        )
    user = await session.scalar(query)
    if user is None:
        raise Unauthorized(INVALID_CREDENTIALS)
    if not user.is_active:
        raise Unauthorized("Inactive user")
    return user


async def session_is_active(
    session: AsyncSession, user_id: uuid.UUID, family_id: uuid.UUID | None
) -> bool:
    """Whether the user is active and (for a token with a session) that session was not
    revoked: what a long-lived connection re-checks."""
    query = select(User.id).where(User.id == user_id, User.is_active.is_(True))
    if family_id is not None:
        query = query.where(
            exists().where(UserSession.family_id == family_id, UserSession.revoked_at.is_(None))
        )
    return await session.scalar(query) is not None


def session_family(settings: Settings, token: str) -> uuid.UUID | None:
    try:
        sid = decode_token(settings, token, token_type="access").get("sid")
        return uuid.UUID(sid) if sid else None
    except (InvalidTokenError, ValueError):
        return None


def reset_token(settings: Settings, user: User) -> str:
    return create_token(
        settings,
        subject=user.id,
        token_type="reset",
        expires_in=timedelta(hours=settings.RESET_TOKEN_EXPIRE_HOURS),
        extra={"pwd": password_fingerprint(user.hashed_password)},
    )


async def recovery_mail(
    session: AsyncSession, settings: Settings, email: str
) -> tuple[str, str, str] | None:
    """(to, subject, body) of the recovery mail for an address; None when no active account
    has it. The reset link is minted here, when the mail is sent, valid from then."""
    user = await users.get_by_email(session, email)
    if user is None or not user.is_active:
        return None
    link = f"{settings.FRONTEND_HOST}/reset-password?token={reset_token(settings, user)}"
    subject = f"{settings.PROJECT_NAME} - password recovery"
    body = f"Reset your password within {settings.RESET_TOKEN_EXPIRE_HOURS} h: {link}\n"
    return user.email, subject, body


async def reset_password(
    session: AsyncSession, settings: Settings, *, token: str, new_password: str
) -> User:
    """Set a new password from a reset token; the token dies with the old password."""
    try:
        claims = decode_token(settings, token, token_type="reset")
    except InvalidTokenError as exc:
        raise BadRequest("Invalid or expired reset token") from exc
    user = await session.get(User, uuid.UUID(claims["sub"]))
    if user is None or claims.get("pwd") != password_fingerprint(user.hashed_password):
        raise BadRequest("Invalid or expired reset token")
    if not user.is_active:
        raise BadRequest("Inactive user")
    user.hashed_password = await hash_password(new_password)
    # A password reset ends every session: whoever had the old password is logged out.
    await revoke_user_sessions(session, user.id)
    return user


async def revoke_user_sessions(
    session: AsyncSession, user_id: uuid.UUID, *, keep_family: uuid.UUID | None = None
) -> None:
    """End every session of the user (but `keep_family`, the caller's own)."""
    query = update(UserSession).where(
        UserSession.user_id == user_id, UserSession.revoked_at.is_(None)
    )
    if keep_family is not None:
        query = query.where(UserSession.family_id != keep_family)
    await session.execute(query.values(revoked_at=datetime.now(UTC)))


async def delete_expired_sessions(session: AsyncSession, *, older_than: timedelta) -> int:
    """Remove sessions expired or revoked for longer than `older_than` (hourly schedule)."""
    cutoff = datetime.now(UTC) - older_than
    result = await session.execute(
        delete(UserSession).where(
            (UserSession.expires_at < cutoff) | (UserSession.revoked_at < cutoff)
        )
    )
    return int(result.rowcount or 0)  # type: ignore[attr-defined]
