"""Liveness and dependency health."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request

from services import health

router = APIRouter(prefix="/utils", tags=["utils"])


@router.get("/health-check/")
async def health_check() -> bool:
    """Liveness: the process answers."""
    return True


@router.get("/system-health-check")
async def system_health_check(request: Request) -> dict[str, Any]:
    """Each dependency's state; always answers, even when some are down."""
    state = request.app.state
    return await health.check_all(
        state.settings, engine=state.engine, redis=state.redis, s3=state.s3, temporal=state.temporal
    )


@router.get("/version")
async def version(request: Request) -> dict[str, str]:
    return {"version": request.app.version}
