"""The caller's own account and self-service signup."""

from __future__ import annotations

from fastapi import APIRouter

from api.deps import CurrentUser, SessionDep, SettingsDep
from api.rate_limits import SignupLimit
from models.user import UserCreate, UserPublic, UserRegister, UserUpdateMe
from services import app_settings, users
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
async def update_me(body: UserUpdateMe, user: CurrentUser, session: SessionDep) -> UserPublic:
    """Change e-mail, name or password (the password needs the current one)."""
    await users.update_me(session, user, body)
    await session.commit()
    return UserPublic.model_validate(user)
