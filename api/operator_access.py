"""Who may read operational internals (/metrics, the system health check): a superuser,
or a scraper or probe holding METRICS_TOKEN."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends

from api.deps import SessionDep, SettingsDep, TokenDep, get_current_user
from core.webhook_signing import constant_time_equal
from services.errors import Forbidden, Unauthorized


async def require_operator(session: SessionDep, settings: SettingsDep, token: TokenDep) -> None:
    """401 without a token or with a bad one, 403 for a valid token of a non-superuser."""
    if not token:
        raise Unauthorized("Not authenticated")
    # The backend's one constant-time comparison (over bytes: a header may carry anything).
    if settings.METRICS_TOKEN and constant_time_equal(settings.METRICS_TOKEN, token):
        return
    user = await get_current_user(session, settings, token)
    if not user.is_superuser:
        raise Forbidden("Not enough permissions")


OperatorAccess = Annotated[None, Depends(require_operator)]
