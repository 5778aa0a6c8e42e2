"""Authentication: password login, refresh rotation, logout, password recovery."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Request
from fastapi.security import OAuth2PasswordRequestForm

from api.deps import CurrentUser, RedisDep, SessionDep, SettingsDep, TokenDep
from api.rate_limits import (
    LoginLimit,
    RecoveryLimit,
    RefreshLimit,
    client_address,
    limiter_of,
)
from core import revocations
from models.base import Message
from models.user import NewPassword, RefreshRequest, Token, UserPublic
from services import auth, users
from services.email import send_email_soon
from services.errors import Unauthorized

router = APIRouter(tags=["login"])


@router.post("/login/access-token")
async def login_access_token(
    session: SessionDep,
    settings: SettingsDep,
    request: Request,
    form: Annotated[OAuth2PasswordRequestForm, Depends()],
    _limit: LoginLimit,
) -> Token:
    """OAuth2 password login: an access token (1 h) and a rotating refresh token.

    Rate-limited per client address, and failed attempts per account and address (429
    with Retry-After): a guesser's address is stopped for that account, its owner's is not.
    """
    limiter = limiter_of(request)
    failures = (users.normalize_email(form.username), client_address(request))
    decision = await limiter.test("login_failures", *failures)
    if not decision.allowed:
        raise decision.refuse()
    try:
        token = await auth.login(
            session,
            settings,
            email=form.username,
            password=form.password,
            user_agent=request.headers.get("user-agent"),
        )
    except Unauthorized:
        await limiter.hit("login_failures", *failures, stats=False)
        raise
    await session.commit()
    return token


@router.post("/login/refresh")
async def login_refresh(
    session: SessionDep,
    settings: SettingsDep,
    request: Request,
    body: RefreshRequest,
    _limit: RefreshLimit,
) -> Token:
    """Trade a refresh token for new tokens; the old refresh token stops working."""
    token = await auth.refresh(
        session,
        settings,
        refresh_token=body.refresh_token,
        user_agent=request.headers.get("user-agent"),
    )
    await session.commit()
    return token


@router.post("/logout")
async def logout(
    session: SessionDep,
    settings: SettingsDep,
    user: CurrentUser,
    token: TokenDep,
    redis: RedisDep,
    body: RefreshRequest | None = None,
) -> Message:
    """End the current session: its refresh tokens, its access tokens and its open
    WebSockets (on every API process) stop working."""
    ended = await auth.logout(
        session,
        user_id=user.id,
        family_id=auth.session_family(settings, token or ""),
        refresh_token=body.refresh_token if body else None,
    )
    await session.commit()
    for family in ended:
        await revocations.session_ended(redis, user.id, family)
    return Message(message="Logged out")


@router.post("/login/test-token")
async def test_token(user: CurrentUser) -> UserPublic:
    """Check an access token; answers with its user."""
    return UserPublic.model_validate(user)


@router.post("/password-recovery/{email}")
async def recover_password(
    email: str, session: SessionDep, settings: SettingsDep, _limit: RecoveryLimit
) -> Message:
    """Send a reset link. The answer is the same whether the account exists or not, and so
    is its time: the mail goes out in the background, after the answer, so neither the SMTP
    server's latency nor the sending itself shows on this request."""
    user = await users.get_by_email(session, email)
    if user is not None and user.is_active:
        token = auth.reset_token(settings, user)
        link = f"{settings.FRONTEND_HOST}/reset-password?token={token}"
        send_email_soon(
            settings,
            to=user.email,
            subject=f"{settings.PROJECT_NAME} - password recovery",
            body=f"Reset your password within {settings.RESET_TOKEN_EXPIRE_HOURS} h: {link}\n",
        )
    return Message(message="If that account exists, a password recovery e-mail was sent")


@router.post("/reset-password/")
async def reset_password(
    body: NewPassword,
    session: SessionDep,
    settings: SettingsDep,
    redis: RedisDep,
    _limit: RecoveryLimit,
) -> Message:
    """Set a new password with a reset token (single use); every session of the account
    ends, open WebSockets included."""
    user = await auth.reset_password(
        session, settings, token=body.token, new_password=body.new_password
    )
    await session.commit()
    await revocations.sessions_ended(redis, user.id)
    return Message(message="Password updated successfully")
