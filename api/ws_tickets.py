"""One-time WebSocket tickets (DESIGN §7): `POST /api/v1/ws/ticket` → `{ticket}`.

A browser cannot set headers on a WebSocket, and a token in the URL lands in access logs,
proxies and history. A ticket is a random string the socket presents once as `?ticket=`:
kept in Redis (so any API process accepts it), single use (GETDEL), valid for
WS_TICKET_SECONDS, and only its hash is stored. It carries what the socket needs: the user,
the session (so logout ends the socket) and the access token's expiry (the socket lives no
longer than the token it was issued for).
"""

from __future__ import annotations

import hashlib
import json
import secrets
import time
import uuid
from dataclasses import dataclass

from redis.asyncio import Redis

KEY_PREFIX = "ws-ticket:"


@dataclass(frozen=True)
class Ticket:
    user_id: uuid.UUID
    session_id: uuid.UUID | None
    expires_at: float  # the access token's expiry (epoch seconds)


def _key(ticket: str) -> str:
    return KEY_PREFIX + hashlib.sha256(ticket.encode()).hexdigest()


async def issue(redis: Redis, ticket: Ticket, *, ttl_seconds: int) -> str:
    value = secrets.token_urlsafe(32)
    payload = {
        "user_id": str(ticket.user_id),
        "session_id": str(ticket.session_id) if ticket.session_id else None,
        "expires_at": ticket.expires_at,
    }
    await redis.set(_key(value), json.dumps(payload), ex=ttl_seconds)
    return value


async def redeem(redis: Redis, value: str) -> Ticket | None:
    """The ticket's contents, once; None when unknown, used or expired."""
    if not value or len(value) > 256:
        return None
    raw = await redis.getdel(_key(value))
    if raw is None:
        return None
    fields = json.loads(raw)
    if fields["expires_at"] <= time.time():
        return None
    session_id = fields.get("session_id")
    return Ticket(
        user_id=uuid.UUID(fields["user_id"]),
        session_id=uuid.UUID(session_id) if session_id else None,
        expires_at=float(fields["expires_at"]),
    )
