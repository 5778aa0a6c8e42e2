"""The control channel: revocations every API process acts on at once (DESIGN §7, §11).

When a session ends (logout), a user's sessions end (password change or reset,
deactivation, deletion) or a user's memberships change (removal, role change, an accepted
invitation), the API publishes a control message on Redis after its commit. Every API
process's event hub listens to the channel and closes the affected sockets, or re-reads a
socket's memberships, within a second. Pub/sub is at most once: a hub that was
disconnected when a message went out re-checks every socket when it reconnects.
"""

from __future__ import annotations

import json
import logging
import uuid
from dataclasses import asdict, dataclass
from typing import Literal

from redis.asyncio import Redis
from redis.exceptions import RedisError

log = logging.getLogger(__name__)

CHANNEL = "control:sessions"

Kind = Literal["session", "user", "memberships"]


@dataclass(frozen=True)
class Revocation:
    """`session`: one session (family) of the user ended; `user`: every session of the
    user ended but `keep_session_id`; `memberships`: the user's organizations changed."""

    kind: Kind
    user_id: str
    session_id: str | None = None
    keep_session_id: str | None = None

    def encode(self) -> str:
        return json.dumps(asdict(self), separators=(",", ":"))

    @classmethod
    def decode(cls, data: bytes | str) -> Revocation | None:
        """The message, or None for anything malformed (logged by the caller)."""
        try:
            fields = json.loads(data)
            revocation = cls(
                kind=fields["kind"],
                user_id=str(uuid.UUID(fields["user_id"])),
                session_id=fields.get("session_id"),
                keep_session_id=fields.get("keep_session_id"),
            )
        except (ValueError, KeyError, TypeError):
            return None
        if revocation.kind not in ("session", "user", "memberships"):
            return None
        return revocation


async def publish(redis: Redis, revocation: Revocation) -> None:
    """Announce after the commit. A Redis failure is logged, not raised: the change itself
    is committed, HTTP already refuses the old credentials, and sockets are re-checked when
    their hub reconnects."""
    try:
        await redis.publish(CHANNEL, revocation.encode())
    except (RedisError, OSError):
        log.warning("revocation %s of user %s not published", revocation.kind, revocation.user_id)


async def session_ended(redis: Redis, user_id: uuid.UUID, session_id: uuid.UUID | str) -> None:
    await publish(redis, Revocation("session", str(user_id), session_id=str(session_id)))


async def sessions_ended(
    redis: Redis, user_id: uuid.UUID, *, keep_session_id: uuid.UUID | str | None = None
) -> None:
    keep = str(keep_session_id) if keep_session_id is not None else None
    await publish(redis, Revocation("user", str(user_id), keep_session_id=keep))


async def memberships_changed(redis: Redis, user_id: uuid.UUID) -> None:
    await publish(redis, Revocation("memberships", str(user_id)))
