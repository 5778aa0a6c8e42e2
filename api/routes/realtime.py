"""The real-time surface: `GET /schema` (message schemas, public) and the socket `/ws`."""

from __future__ import annotations

from functools import cache
from typing import Any

from fastapi import APIRouter

from api import ws
from models.events import websocket_schema

router = APIRouter(tags=["realtime"])
# Mounted here so the socket lives under the API prefix with every other route.
router.include_router(ws.router)


@cache
def _schema() -> dict[str, Any]:
    return websocket_schema()  # static: built once per process


@router.get("/schema")
async def message_schema() -> dict[str, Any]:
    """JSON Schema of every WebSocket message kind (`server` sent, `client` accepted), for
    client code generation; `x-message-types` lists the `type` values."""
    return _schema()
