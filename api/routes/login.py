"""Authentication: password login, refresh rotation, logout, password recovery."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Path, Request
from fastapi.security import OAuth2PasswordRequestForm
from temporalio.service import RPCError

from api.deps import CurrentUser, RedisDep, SessionDep, SettingsDep, TemporalDep, TokenDep
from api.rate_limits import (
    LoginLimit,
    RecoveryLimit,
    RefreshLimit,
    client_address,
    limiter_of,
)
from core import revocations
from core.starts import start_mail
from models.base import Message
from models.user import NewPassword, RefreshRequest, Token, UserPublic
from services import auth, users
from services.errors import Unauthorized, WorkflowUnavailable
from workflows.mail_types import PASSWORD_RECOVERY, MailInput

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
    email: Annotated[str, Path(min_length=3, max_length=254)],
    settings: SettingsDep,
    temporal: TemporalDep,
    _limit: RecoveryLimit,
) -> Message:
    """Send a reset link. The answer is the same whether the account exists or not, and so
    is its time: the request only starts the mail's run (MailWorkflow), which looks the
    address up, mints the link and sends it, retrying while the SMTP server is away."""
    try:
        await start_mail(
            await temporal.get(),
            MailInput(
                kind=PASSWORD_RECOVERY,
                email=email,
                deadline_seconds=settings.MAIL_DEADLINE_SECONDS,
            ),
            task_queue_prefix=settings.TASK_QUEUE_PREFIX,
        )
    except RPCError as error:
        raise WorkflowUnavailable(f"Could not send the mail: {error}") from error
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
