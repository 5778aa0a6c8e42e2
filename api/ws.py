"""`GET /api/v1/ws`: the real-time socket (DESIGN §7).

Protocol: authenticate with a one-time `?ticket=` (POST /api/v1/ws/ticket, api/ws_tickets.py)
or a first message `{"type": "auth", "token": ...}` (within WS_AUTH_TIMEOUT_SECONDS); never a
token in the URL. The server answers `auth.success` or `auth.error` + close 1008. Then the
events of the user's own scope and of its organizations (memberships read at connect and
re-read when they change, api/ws_sessions.py), optionally preceded by those missed since
`last_event_id`, in id order, without gap or duplicate. Logout, a password change or reset,
deactivation end the socket (1008 "session ended") within a second, on any API process.
`{"type": "ping"}` is answered with `{"type": "pong"}`. Close codes: 1008 auth
failed or token expired, 1013 too slow (or events or the database unavailable), 1012 server
restarting, 1001 lifetime reached; reconnect with the last id received to lose nothing.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
import uuid
from dataclasses import dataclass
from typing import Any

from fastapi import APIRouter, WebSocket, WebSocketDisconnect
from prometheus_client import Gauge as PromGauge
from pydantic import ValidationError
from redis.exceptions import RedisError
from sqlalchemy.exc import SQLAlchemyError
from starlette.websockets import WebSocketState

from api import ws_tickets
from api.ws_sessions import LiveSocket, SocketRegistry, scopes_of
from core.config import Settings
from core.event_hub import EventHub
from core.metrics import WEBSOCKET_CONNECTIONS
from core.security import InvalidTokenError, decode_token
from core.subscription import Resync, Subscription
from models.events import (
    AuthClientMessage,
    AuthErrorMessage,
    AuthSuccessMessage,
    PingClientMessage,
    PongMessage,
    ResyncMessage,
    client_message_adapter,
)
from services import auth, organizations
from services.errors import Unauthorized

log = logging.getLogger(__name__)

# Timeouts and lifetimes are the WS_* settings of the app (core/config.py). The socket reads
# them, its clients and its hub from `websocket.app.state`, not through api/deps.py: those
# take a Request, which a WebSocket route does not have, and a dependency lives as long as
# the route, here the whole socket: a SessionDep would hold a database connection open while
# events stream, where the session must close once the socket is authenticated.

POLICY_VIOLATION = 1008
GOING_AWAY = 1001
SERVICE_RESTART = 1012
TRY_AGAIN_LATER = 1013

router = APIRouter(tags=["realtime"])


class Gauge:
    """A process-local gauge, mirrored into Prometheus when given one."""

    def __init__(self, exported: PromGauge | None = None) -> None:
        self.value = 0
        self._exported = exported

    def inc(self) -> None:
        self.value += 1
        if self._exported is not None:
            self._exported.inc()

    def dec(self) -> None:
        self.value -= 1
        if self._exported is not None:
            self._exported.dec()


live_connections = Gauge(WEBSOCKET_CONNECTIONS)  # accepted sockets
streaming_connections = Gauge()  # authenticated sockets receiving events


class _Refused(Exception):
    def __init__(self, error: str) -> None:
        super().__init__(error)
        self.error = error


@dataclass(frozen=True)
class Identity:
    user_id: uuid.UUID
    session_id: uuid.UUID | None
    organization_ids: list[uuid.UUID]
    expires_at: float  # of the access token the socket was opened with (epoch seconds)


@router.websocket("/ws")
async def event_socket(
    websocket: WebSocket,
    ticket: str | None = None,
    last_event_id: str | None = None,
    token: str | None = None,
) -> None:
    await websocket.accept()
    live_connections.inc()
    try:
        await _serve(websocket, ticket, last_event_id, token_in_url=token is not None)
    except WebSocketDisconnect:
        pass
    finally:
        live_connections.dec()


async def _serve(
    websocket: WebSocket, ticket: str | None, last_event_id: str | None, *, token_in_url: bool
) -> None:
    state = websocket.app.state
    settings: Settings = state.settings
    try:
        if token_in_url:
            # Refused rather than ignored, so a client learns at once why it is not let in.
            raise _Refused("Tokens in URLs are not accepted: use a ticket or an auth message")
        if ticket is not None:
            identity = await _from_ticket(state, ticket)
        else:
            first = await _first_message(websocket, settings.WS_AUTH_TIMEOUT_SECONDS)
            last_event_id = first.last_event_id or last_event_id
            identity = await _from_token(state, first.token)
        deadline = _deadline(settings, identity.expires_at)
    except _Refused as refused:
        await websocket.send_text(AuthErrorMessage(error=refused.error).model_dump_json())
        await _close(websocket, POLICY_VIOLATION, refused.error)
        return
    except (SQLAlchemyError, OSError):
        # Postgres down or restarting (refused, "starting up", a connection cut mid-query):
        # not the client's fault and not a crash. Say "retry later", as for Redis below,
        # instead of an unhandled error (1011 and a traceback per reconnect attempt).
        log.warning("websocket: cannot authenticate, database unavailable", exc_info=True)
        await _close(websocket, TRY_AGAIN_LATER, "database unavailable, retry later")
        return

    hub: EventHub = state.event_hub
    registry: SocketRegistry = state.socket_registry
    scopes = scopes_of(identity.user_id, identity.organization_ids)
    try:
        subscription = await hub.subscribe(scopes, after_id=last_event_id)
    except RedisError:
        log.warning("websocket: cannot subscribe, Redis unavailable", exc_info=True)
        await _close(websocket, TRY_AGAIN_LATER, "events unavailable, retry later")
        return
    live = LiveSocket(
        identity.user_id, identity.session_id, subscription, identity.organization_ids
    )
    registry.register(live)
    streaming_connections.inc()
    try:
        success = AuthSuccessMessage(
            user_id=identity.user_id,
            organization_ids=identity.organization_ids,
            context={"last_event_id": subscription.start_id},
        )
        await websocket.send_text(success.model_dump_json())
        await _stream(websocket, subscription, deadline, live)
    finally:
        streaming_connections.dec()
        registry.unregister(live)
        hub.unsubscribe(subscription)


async def _first_message(websocket: WebSocket, within: float) -> AuthClientMessage:
    try:
        async with asyncio.timeout(within):
            raw = await _receive_text(websocket)
    except TimeoutError as exc:
        raise _Refused("Authentication timed out") from exc
    if raw is None:
        raise WebSocketDisconnect()
    try:
        message = client_message_adapter.validate_json(raw)
    except ValidationError as exc:
        raise _Refused("Expected an auth message") from exc
    if not isinstance(message, AuthClientMessage):
        raise _Refused("Expected an auth message")
    return message


async def _from_token(state: Any, token: str) -> Identity:
    """The user of the access token and its organizations; the database session is closed
    before any event flows."""
    try:
        claims = decode_token(state.settings, token, token_type="access")
    except InvalidTokenError as exc:
        raise _Refused(auth.INVALID_CREDENTIALS) from exc
    async with state.sessionmaker() as session:
        try:
            user = await auth.user_from_access_token(session, state.settings, token)
        except Unauthorized as exc:
            raise _Refused(str(exc.detail)) from exc
        organization_ids = await organizations.organization_ids_of(session, user.id)
    return Identity(
        user.id, auth.session_family(state.settings, token), organization_ids, claims["exp"]
    )


async def _from_ticket(state: Any, value: str) -> Identity:
    try:
        ticket = await ws_tickets.redeem(state.redis, value)
    except RedisError as exc:
        raise OSError("tickets unavailable") from exc
    if ticket is None:
        raise _Refused("Invalid or expired ticket")
    async with state.sessionmaker() as session:
        if not await auth.session_is_active(session, ticket.user_id, ticket.session_id):
            raise _Refused(auth.INVALID_CREDENTIALS)
        organization_ids = await organizations.organization_ids_of(session, ticket.user_id)
    return Identity(ticket.user_id, ticket.session_id, organization_ids, ticket.expires_at)


def _deadline(settings: Settings, expires_at: float) -> tuple[float, int, str] | None:
    """(monotonic time, close code, reason) at which the socket is closed, if any."""
    limits: list[tuple[float, int, str]] = []
    lifetime = settings.WS_MAX_CONNECTION_SECONDS
    if lifetime is not None:
        limits.append((lifetime, GOING_AWAY, "connection lifetime reached"))
    if settings.WS_CLOSE_AT_TOKEN_EXPIRY:
        limits.append((expires_at - time.time(), POLICY_VIOLATION, "access token expired"))
    if not limits:
        return None
    seconds, code, reason = min(limits)
    return time.monotonic() + max(seconds, 0.0), code, reason


async def _stream(
    websocket: WebSocket,
    subscription: Subscription,
    deadline: tuple[float, int, str] | None,
    live: LiveSocket,
) -> None:
    # One writer at a time: events and pongs come from two tasks.
    send_lock = asyncio.Lock()

    async def send(text: str) -> None:
        async with send_lock:
            await websocket.send_text(text)

    async def pump() -> None:
        while True:
            item = await subscription.get()
            if isinstance(item, Resync):
                await send(ResyncMessage(reason=item.reason).model_dump_json())
            else:
                await send(item.data)

    async def answer() -> None:
        while (raw := await _receive_text(websocket)) is not None:
            with contextlib.suppress(ValidationError):
                if isinstance(client_message_adapter.validate_json(raw), PingClientMessage):
                    await send(PongMessage().model_dump_json())
            # Anything else (a second auth, garbage) is ignored: it changes nothing.

    tasks = {
        asyncio.create_task(pump(), name="ws-pump"),
        asyncio.create_task(answer(), name="ws-answer"),
        # The pump may be stuck in a send to a client that does not read; the overflow must
        # still close the socket.
        asyncio.create_task(subscription.wait_closed(), name="ws-closed"),
        # A revocation published by any API process (logout, password change, …).
        asyncio.create_task(live.ended.wait(), name="ws-revoked"),
    }
    timeout = None if deadline is None else max(deadline[0] - time.monotonic(), 0.0)
    try:
        done, _ = await asyncio.wait(tasks, timeout=timeout, return_when=asyncio.FIRST_COMPLETED)
    finally:
        await _cancel(tasks)

    if live.ended.is_set():
        await _close(websocket, POLICY_VIOLATION, live.reason)
    elif subscription.closed:
        if subscription.overflowed:
            code, reason = TRY_AGAIN_LATER, "too slow: events were not read in time"
        else:
            code, reason = SERVICE_RESTART, "server restarting"
        await _close(websocket, code, reason)
    elif not done and deadline is not None:
        await _close(websocket, deadline[1], deadline[2])
    # Otherwise the client left (or a send failed because it did).


async def _cancel(tasks: set[asyncio.Task[Any]]) -> None:
    """Cancel and reap; cancels again while any survives (Python 3.11's wait_for, used by
    some I/O libraries, can swallow a cancellation that races with completion)."""
    while pending := {task for task in tasks if not task.done()}:
        for task in pending:
            task.cancel()
        await asyncio.wait(pending, timeout=0.5)
    for task in tasks:
        if not task.cancelled() and (exc := task.exception()) is not None:
            # A failed send (the client left) or a closed subscription; nothing to recover.
            log.debug("websocket: %s ended with %r", task.get_name(), exc)


async def _receive_text(websocket: WebSocket) -> str | None:
    """The next text (or bytes, decoded) message; None once the client is gone."""
    message = await websocket.receive()
    if message["type"] == "websocket.disconnect":
        return None
    if message.get("text") is not None:
        return message["text"]
    return (message.get("bytes") or b"").decode(errors="replace")


async def _close(websocket: WebSocket, code: int, reason: str) -> None:
    if websocket.application_state == WebSocketState.DISCONNECTED:
        return
    # A close the client does not read (it stopped reading) is abandoned after this long.
    within = websocket.app.state.settings.WS_CLOSE_TIMEOUT_SECONDS
    with contextlib.suppress(Exception):
        async with asyncio.timeout(within):
            await websocket.close(code=code, reason=reason[:120])
