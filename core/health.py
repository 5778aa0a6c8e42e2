"""Dependency checks for the system health route: each bounded by a timeout, never raising.

Infrastructure, not a domain operation: it holds the clients (Temporal, an HTTP probe of
the Compute Server) that services/ must not."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from typing import Any

import httpx
from redis.asyncio import Redis
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine
from temporalio.api.workflowservice.v1 import GetSystemInfoRequest

from core.config import Settings
from core.temporal import LazyClient


async def _timed(name: str, check: Callable[[], Awaitable[Any]], limit: float) -> dict[str, Any]:
    started = time.perf_counter()
    try:
        detail = await asyncio.wait_for(check(), limit)
        status = "ok"
    except TimeoutError:
        status, detail = "error", f"timed out after {limit:.1f}s"
    except Exception as exc:  # a failing dependency is reported, never raised
        status, detail = "error", f"{type(exc).__name__}: {str(exc)[:200]}"
    result: dict[str, Any] = {
        "name": name,
        "status": status,
        "latency_ms": round((time.perf_counter() - started) * 1000, 1),
    }
    if detail is not None:
        result["detail"] = detail
    return result


async def check_all(
    settings: Settings, *, engine: AsyncEngine, redis: Redis, s3: Any, temporal: LazyClient
) -> dict[str, Any]:
    timeout = settings.HEALTH_CHECK_TIMEOUT_SECONDS

    async def database() -> None:
        async with engine.connect() as conn:
            await conn.execute(text("SELECT 1"))

    async def cache() -> None:
        await redis.ping()

    async def storage() -> None:
        await asyncio.to_thread(s3.head_bucket, Bucket=settings.R2_BUCKET_NAME)

    async def temporal_server() -> None:
        client = await temporal.get()
        await client.workflow_service.get_system_info(GetSystemInfoRequest())

    async def compute() -> str:
        async with httpx.AsyncClient(timeout=timeout) as client:
            response = await client.get(f"{settings.COMPUTE_SERVER_API_URL.rstrip('/')}/health")
            return f"HTTP {response.status_code}"

    checks = await asyncio.gather(
        _timed("database", database, timeout),
        _timed("redis", cache, timeout),
        _timed("object_store", storage, timeout),
        _timed("temporal", temporal_server, timeout),
        _timed("compute", compute, timeout),
    )
    overall = "ok" if all(c["status"] == "ok" for c in checks) else "degraded"
    return {"status": overall, "checks": list(checks)}
