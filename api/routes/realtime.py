"""The real-time surface: `GET /schema` (message schemas, public) and the socket `/ws`."""

from __future__ import annotations

from functools import cache
from typing import Any

from fastapi import APIRouter

from api import ws, ws_tickets
from api.deps import CurrentUser, RedisDep, SettingsDep, TokenDep
from core.security import decode_token
from models.events import WebSocketTicket, websocket_schema
from services import auth

router = APIRouter(tags=["realtime"])
# Mounted here so the socket lives under the API prefix with every other route.
router.include_router(ws.router)


@cache
def _schema() -> dict[str, Any]:
    return websocket_schema()  # static: built once per process


@router.post("/ws/ticket")
async def websocket_ticket(
    user: CurrentUser, token: TokenDep, settings: SettingsDep, redis: RedisDep
) -> WebSocketTicket:
    """A one-time ticket for `GET /api/v1/ws?ticket=...` (single use, valid for
    WS_TICKET_SECONDS, accepted by every API process): a browser cannot put the token in a
    header, and a token in a URL would land in access logs."""
    claims = decode_token(settings, token or "", token_type="access")
    ticket = ws_tickets.Ticket(
        user_id=user.id,
        session_id=auth.session_family(settings, token or ""),
        expires_at=float(claims["exp"]),
    )
    value = await ws_tickets.issue(redis, ticket, ttl_seconds=settings.WS_TICKET_SECONDS)
    return WebSocketTicket(ticket=value, expires_in=settings.WS_TICKET_SECONDS)


@router.get("/schema")
async def message_schema() -> dict[str, Any]:
    """JSON Schema of every WebSocket message kind (`server` sent, `client` accepted), for
    client code generation; `x-message-types` lists the `type` values."""
    return _schema()
