"""The caller's own account and self-service signup."""

from __future__ import annotations

from fastapi import APIRouter

from api.deps import CurrentUser, RedisDep, SessionDep, SettingsDep, TokenDep
from api.rate_limits import SignupLimit
from core import revocations
from models.user import UserCreate, UserPublic, UserRegister, UserUpdateMe
from services import app_settings, auth, users
from services.errors import Forbidden

router = APIRouter(prefix="/users", tags=["users"])


@router.post("/signup", status_code=201)
async def signup(
    body: UserRegister, session: SessionDep, settings: SettingsDep, _limit: SignupLimit
) -> UserPublic:
    """Create an account while the `signup_enabled` setting is on."""
    if not await app_settings.get_value(session, settings, app_settings.SIGNUP_ENABLED):
        raise Forbidden("Signup is disabled")
    user = await users.create_user(session, UserCreate(**body.model_dump()))
    await session.commit()
    return UserPublic.model_validate(user)


@router.get("/me")
async def read_me(user: CurrentUser) -> UserPublic:
    return UserPublic.model_validate(user)


@router.patch("/me")
async def update_me(
    body: UserUpdateMe,
    user: CurrentUser,
    session: SessionDep,
    settings: SettingsDep,
    token: TokenDep,
    redis: RedisDep,
) -> UserPublic:
    """Change e-mail, name or password. A new e-mail or password needs `current_password`;
    a new password ends every other session of the account (their open WebSockets too)."""
    current = auth.session_family(settings, token or "")
    if await users.update_me(session, user, body):
        await auth.revoke_user_sessions(session, user.id, keep_family=current)
        await session.commit()
        await revocations.sessions_ended(redis, user.id, keep_session_id=current)
    else:
        await session.commit()
    return UserPublic.model_validate(user)
