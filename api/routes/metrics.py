"""Prometheus metrics of this API process (a superuser or METRICS_TOKEN only)."""

from __future__ import annotations

from fastapi import APIRouter, Depends, Response
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from api.operator_access import require_operator

router = APIRouter(tags=["utils"])


# Route templates, status counts and process figures are internals: not for anyone.
@router.get("/metrics", include_in_schema=False, dependencies=[Depends(require_operator)])
async def metrics() -> Response:
    return Response(generate_latest(), media_type=CONTENT_TYPE_LATEST)
