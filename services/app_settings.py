"""Key/value application settings (superuser-editable), with defaults from configuration."""

from __future__ import annotations

from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from core.config import Settings
from models.setting import AppSetting
from services.errors import BadRequest, NotFound

SIGNUP_ENABLED = "signup_enabled"


def defaults(settings: Settings) -> dict[str, tuple[Any, str]]:
    """Known settings: key -> (default value, description)."""
    return {
        SIGNUP_ENABLED: (
            settings.SIGNUP_ENABLED_DEFAULT,
            "Whether POST /users/signup accepts new accounts.",
        ),
        "max_concurrent_shot_generations": (
            4,
            "How many shots of one shooting generate at once.",
        ),
    }


async def get_value(session: AsyncSession, settings: Settings, key: str) -> Any:
    row = await session.get(AppSetting, key)
    if row is not None:
        return row.value
    known = defaults(settings)
    if key not in known:
        raise NotFound(f"Setting {key!r} not found")
    return known[key][0]


async def list_all(session: AsyncSession, settings: Settings) -> list[AppSetting]:
    stored = {row.key: row for row in await session.scalars(select(AppSetting))}
    for key, (value, description) in defaults(settings).items():
        stored.setdefault(key, AppSetting(key=key, value=value, description=description))
    return sorted(stored.values(), key=lambda row: row.key)


async def set_value(
    session: AsyncSession, settings: Settings, key: str, value: Any, description: str | None
) -> AppSetting:
    known = defaults(settings)
    if key in known and not isinstance(value, type(known[key][0])):
        raise BadRequest(f"Setting {key!r} takes a {type(known[key][0]).__name__}")
    row = await session.get(AppSetting, key)
    if row is None:
        row = AppSetting(
            key=key, value=value, description=description or known.get(key, ("", None))[1]
        )
        session.add(row)
    else:
        row.value = value
        if description is not None:
            row.description = description
    await session.flush()
    return row


async def delete(session: AsyncSession, key: str) -> None:
    row = await session.get(AppSetting, key)
    if row is None:
        raise NotFound(f"Setting {key!r} not found")
    await session.delete(row)
