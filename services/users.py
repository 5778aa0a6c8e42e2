"""User accounts: lookup, creation, updates, the first superuser."""

from __future__ import annotations

import logging
import uuid

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from core.config import Settings
from core.security import hash_password, verify_password
from models.user import User, UserCreate, UserUpdate, UserUpdateMe
from services.errors import BadRequest, Conflict

log = logging.getLogger(__name__)


def normalize_email(email: str) -> str:
    return email.strip().lower()


async def get_by_email(session: AsyncSession, email: str) -> User | None:
    return await session.scalar(select(User).where(User.email == normalize_email(email)))


async def create_user(session: AsyncSession, data: UserCreate) -> User:
    """A new account; 409 when the e-mail is taken."""
    if await get_by_email(session, data.email) is not None:
        raise Conflict("A user with this email already exists")
    user = User(
        **data.model_dump(exclude={"password", "email"}),
        email=normalize_email(data.email),
        hashed_password=await hash_password(data.password),
    )
    session.add(user)
    await session.flush()
    return user


async def update_user(session: AsyncSession, user: User, data: UserUpdate) -> User:
    values = data.model_dump(exclude_unset=True)
    if "email" in values and values["email"] is not None:
        email = normalize_email(values.pop("email"))
        if email != user.email and await get_by_email(session, email) is not None:
            raise Conflict("A user with this email already exists")
        user.email = email
    if (password := values.pop("password", None)) is not None:
        user.hashed_password = await hash_password(password)
    for key, value in values.items():
        if value is not None:
            setattr(user, key, value)
    await session.flush()
    return user


async def update_me(session: AsyncSession, user: User, data: UserUpdateMe) -> bool:
    """Self-service update; a new password or a new e-mail needs the current password
    (whoever holds a stolen session cannot take the account over). True when the password
    changed: the caller ends every other session."""
    changes_email = data.email is not None and normalize_email(data.email) != user.email
    if (data.new_password is not None or changes_email) and (
        not data.current_password
        or not (await verify_password(data.current_password, user.hashed_password))[0]
    ):
        raise BadRequest("Incorrect current password")
    if data.new_password is not None and data.current_password == data.new_password:
        raise BadRequest("New password cannot be the same as the current one")
    update = UserUpdate(email=data.email, full_name=data.full_name, password=data.new_password)
    await update_user(session, user, UserUpdate(**update.model_dump(exclude_none=True)))
    return data.new_password is not None


async def list_users(
    session: AsyncSession, *, skip: int, limit: int, search: str | None = None
) -> tuple[list[User], int]:
    query = select(User)
    count_query = select(func.count()).select_from(User)
    if search:
        pattern = f"%{search.lower()}%"
        condition = func.lower(User.email).like(pattern) | func.lower(User.full_name).like(pattern)
        query = query.where(condition)
        count_query = count_query.where(condition)
    users = await session.scalars(
        query.order_by(User.created_at, User.id).offset(skip).limit(limit)
    )
    return list(users), int(await session.scalar(count_query) or 0)


async def get_user(session: AsyncSession, user_id: uuid.UUID) -> User | None:
    return await session.get(User, user_id)


async def ensure_first_superuser(session: AsyncSession, settings: Settings) -> User:
    """Create FIRST_SUPERUSER at start-up if missing (never changes an existing password)."""
    user = await get_by_email(session, settings.FIRST_SUPERUSER)
    if user is None:
        user = await create_user(
            session,
            UserCreate(
                email=settings.FIRST_SUPERUSER,
                password=settings.FIRST_SUPERUSER_PASSWORD,
                full_name="Administrator",
                is_superuser=True,
            ),
        )
        log.info("created first superuser %s", user.email)
    return user
