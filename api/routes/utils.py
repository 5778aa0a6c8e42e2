"""Liveness and dependency health."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Depends, Request

from api.deps import EngineDep, RedisDep, SettingsDep, StoreDep, TemporalDep
from api.operator_access import require_operator
from core import health

router = APIRouter(prefix="/utils", tags=["utils"])


@router.get("/health-check/")
async def health_check() -> bool:
    """Liveness: the process answers (open to all, so it says nothing else)."""
    return True


@router.get("/system-health-check", dependencies=[Depends(require_operator)])
async def system_health_check(
    settings: SettingsDep,
    engine: EngineDep,
    redis: RedisDep,
    store: StoreDep,
    temporal: TemporalDep,
) -> dict[str, Any]:
    """Each dependency's state; always answers, even when some are down. A superuser's
    bearer token or `Bearer <METRICS_TOKEN>` only: it names hosts, versions and errors."""
    return await health.check_all(
        settings, engine=engine, redis=redis, s3=store.client, temporal=temporal
    )


@router.get("/version")
async def version(request: Request) -> dict[str, str]:
    return {"version": request.app.version}
