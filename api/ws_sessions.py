"""Which sockets of this API process belong to which user and session, and revocation.

Each authenticated socket is registered with its user, its session (the access token's
`sid`) and its subscription. A control message (core/revocations.py, through the event hub)
ends the sockets of an ended session, or every socket of a user but the one kept, or makes
the user's sockets re-read their memberships (their subscriptions narrow or widen at once).
The memberships are cached on the socket and refreshed on these messages, never per event.

Pub/sub may drop a message while the hub is reconnecting; after every reconnect each
socket's session and memberships are checked again against the database.
"""

from __future__ import annotations

import asyncio
import logging
import uuid
from collections.abc import Iterable
from dataclasses import dataclass, field

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from core import events
from core.event_hub import EventHub
from core.revocations import Revocation
from core.subscription import Subscription
from services import auth, organizations

log = logging.getLogger(__name__)

SESSION_ENDED = "session ended"


def scopes_of(user_id: uuid.UUID, organization_ids: Iterable[uuid.UUID]) -> list[str]:
    return [events.user_scope(user_id), *(events.org_scope(o) for o in organization_ids)]


@dataclass(eq=False)
class LiveSocket:
    user_id: uuid.UUID
    session_id: uuid.UUID | None
    subscription: Subscription
    organization_ids: list[uuid.UUID] = field(default_factory=list)
    ended: asyncio.Event = field(default_factory=asyncio.Event)
    reason: str = SESSION_ENDED

    def end(self, reason: str) -> None:
        self.reason = reason
        self.ended.set()


class SocketRegistry:
    """One per API process, fed by its event hub's control channel."""

    def __init__(self, hub: EventHub, sessionmaker: async_sessionmaker[AsyncSession]) -> None:
        self.hub = hub
        self.sessionmaker = sessionmaker
        self._by_user: dict[uuid.UUID, set[LiveSocket]] = {}
        hub.on_revocation(self.revoke)
        hub.on_reconnect(self.recheck_all)

    def register(self, socket: LiveSocket) -> None:
        self._by_user.setdefault(socket.user_id, set()).add(socket)

    def unregister(self, socket: LiveSocket) -> None:
        sockets = self._by_user.get(socket.user_id)
        if sockets is not None:
            sockets.discard(socket)
            if not sockets:
                del self._by_user[socket.user_id]

    def sockets_of(self, user_id: uuid.UUID) -> list[LiveSocket]:
        return list(self._by_user.get(user_id, ()))

    async def revoke(self, revocation: Revocation) -> None:
        user_id = uuid.UUID(revocation.user_id)
        sockets = self.sockets_of(user_id)
        if not sockets:
            return
        if revocation.kind == "session":
            for socket in sockets:
                if str(socket.session_id) == revocation.session_id:
                    socket.end(SESSION_ENDED)
        elif revocation.kind == "user":
            for socket in sockets:
                if revocation.keep_session_id is None or (
                    str(socket.session_id) != revocation.keep_session_id
                ):
                    socket.end(SESSION_ENDED)
        else:
            await self._refresh_memberships(user_id, sockets)

    async def _refresh_memberships(self, user_id: uuid.UUID, sockets: list[LiveSocket]) -> None:
        async with self.sessionmaker() as session:
            organization_ids = await organizations.organization_ids_of(session, user_id)
        for socket in sockets:
            if socket.ended.is_set():
                continue
            socket.organization_ids = organization_ids
            self.hub.set_scopes(socket.subscription, scopes_of(user_id, organization_ids))

    async def recheck_all(self) -> None:
        """After a reconnect: end sockets whose session ended, re-read every memberships."""
        for user_id in list(self._by_user):
            sockets = self.sockets_of(user_id)
            async with self.sessionmaker() as session:
                for socket in sockets:
                    if not await auth.session_is_active(session, user_id, socket.session_id):
                        socket.end(SESSION_ENDED)
            alive = [s for s in sockets if not s.ended.is_set()]
            if alive:
                await self._refresh_memberships(user_id, alive)
        log.info("websockets re-checked after the event hub reconnected")
