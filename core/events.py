"""Real-time events (DESIGN §7): publish and replay (the per-process fan-out is event_hub.py).

An event belongs to exactly one scope, `org:{organization_id}` or `user:{owner_id}`. Publishing
takes a global, monotonically increasing id (`events:seq`), appends the message to the capped
stream `events:{scope}` under the entry id `<id>-0`, and PUBLISHes it on the channel `{scope}`,
all in one Lua script, so the stream and the channel never disagree and ids are totally ordered
across scopes: a client that reconnects with `last_event_id` is replayed from all of its
scopes' streams, merged by id.

No FastAPI here: Temporal activities publish with this module too. Stream length, dedupe TTL
and replay limit are settings (EVENT_* in core/config.py); a caller without its own settings
at hand gets the process's (`get_settings()`), which every process of a deployment shares.
"""

from __future__ import annotations

import hashlib
import json
import logging
import uuid
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from pydantic_core import to_json
from redis.asyncio import Redis
from redis.exceptions import NoScriptError

from core.config import get_settings

log = logging.getLogger(__name__)

SEQ_KEY = "events:seq"
OVERFLOW_REASON = "too many undelivered events"
SHUTDOWN_REASON = "server shutting down"
PATTERNS = ("org:*", "user:*")

# KEYS: sequence counter, scope stream, [dedupe marker]
# ARGV: channel, the message without its id (`"type":...}`), maxlen, dedupe ttl
_PUBLISH_LUA = """
if KEYS[3] then
  local first = redis.call('GET', KEYS[3])
  if first then return first end
end
local id = string.format('%d', redis.call('INCR', KEYS[1]))
local message = '{"id":"' .. id .. '",' .. ARGV[2]
local added = redis.pcall('XADD', KEYS[2], 'MAXLEN', '~', ARGV[3], id .. '-0', 'm', message)
if type(added) == 'table' and added.err then
  -- The counter is behind this stream (its key was lost while the stream survived): move it
  -- past the stream's newest entry, so publishing heals itself instead of failing forever.
  local newest = redis.call('XREVRANGE', KEYS[2], '+', '-', 'COUNT', 1)
  redis.call('SET', KEYS[1], string.match(newest[1][1], '^(%d+)'))
  id = string.format('%d', redis.call('INCR', KEYS[1]))
  message = '{"id":"' .. id .. '",' .. ARGV[2]
  redis.call('XADD', KEYS[2], 'MAXLEN', '~', ARGV[3], id .. '-0', 'm', message)
end
redis.call('PUBLISH', ARGV[1], message)
if KEYS[3] then redis.call('SET', KEYS[3], id, 'EX', ARGV[4]) end
return id
"""
_PUBLISH_SHA = hashlib.sha1(_PUBLISH_LUA.encode()).hexdigest()


# -- scopes -------------------------------------------------------------------------------


def org_scope(organization_id: uuid.UUID | str) -> str:
    return f"org:{organization_id}"


def user_scope(user_id: uuid.UUID | str) -> str:
    return f"user:{user_id}"


def scope_for(organization_id: uuid.UUID | str | None, user_id: uuid.UUID | str | None) -> str:
    """The one scope of an entity: its organization's, else its owner's."""
    if organization_id is not None:
        return org_scope(organization_id)
    if user_id is not None:
        return user_scope(user_id)
    raise ValueError("an event needs an organization or a user")


def stream_key(scope: str) -> str:
    return f"events:{scope}"


def _text(value: bytes | str) -> str:
    return value.decode() if isinstance(value, bytes) else value


def _event_id(value: str | int) -> int:
    """A client-supplied id as an int; ValueError unless it is a non-negative integer."""
    number = int(value)
    if number < 0:
        raise ValueError("event ids are non-negative")
    return number


# -- publish / replay -----------------------------------------------------------------------


async def publish(
    redis: Redis,
    *,
    type: str,
    payload: Mapping[str, Any],
    organization_id: uuid.UUID | None,
    user_id: uuid.UUID | None,
    dedupe_key: str | None = None,
    maxlen: int | None = None,
    dedupe_ttl_seconds: int | None = None,
) -> str:
    """Publish one event to its scope; returns its id.

    With `dedupe_key`, a second publish under the same key within `dedupe_ttl_seconds`
    (EVENT_DEDUPE_TTL_SECONDS) publishes nothing and returns the first event's id (a retried
    activity never emits twice). An entity with neither an organization nor an owner has no
    audience: nothing is published, "" is returned (an orphaned row must not make an activity
    fail forever)."""
    try:
        scope = scope_for(organization_id, user_id)
    except ValueError:
        log.warning("event %s has no organization and no owner; not published", type)
        return ""
    ts = datetime.now(UTC).isoformat().replace("+00:00", "Z")
    # The message minus its leading `{"id":"<seq>",`, which only the script knows.
    body = b'"type":%s,"ts":%s,"payload":%s}' % (to_json(type), to_json(ts), to_json(payload))
    keys = [SEQ_KEY, stream_key(scope)]
    if dedupe_key is not None:
        keys.append(f"events:dedupe:{dedupe_key}")
    if maxlen is None:
        maxlen = get_settings().EVENT_STREAM_MAXLEN
    if dedupe_ttl_seconds is None:
        dedupe_ttl_seconds = get_settings().EVENT_DEDUPE_TTL_SECONDS
    args = [scope, body, maxlen, dedupe_ttl_seconds]
    try:
        result = await redis.evalsha(_PUBLISH_SHA, len(keys), *keys, *args)
    except NoScriptError:  # first use on this server (or after SCRIPT FLUSH): EVAL caches it
        result = await redis.eval(_PUBLISH_LUA, len(keys), *keys, *args)
    return _text(result)


async def current_id(redis: Redis) -> str:
    """The id of the newest event published anywhere ("0" before the first)."""
    return _text(await redis.get(SEQ_KEY) or b"0")


@dataclass(frozen=True, slots=True)
class Event:
    """One published message: its id and its JSON text exactly as published."""

    id: int
    data: str

    def message(self) -> dict[str, Any]:
        return json.loads(self.data)


@dataclass(frozen=True, slots=True)
class ReplayResult:
    events: list[Event]
    head: int  # the newest id anywhere when the streams were read
    complete: bool  # False: trimmed, too many, or an unknown id; the client must resync


async def read_since(
    redis: Redis,
    scopes: Iterable[str],
    after_id: str | int,
    *,
    limit: int | None = None,
    maxlen: int | None = None,
) -> ReplayResult:
    """The events of `scopes` with an id above `after_id`, in id order, read in one MULTI so
    `head` and the streams are one snapshot. Raises ValueError for a malformed `after_id`.

    A scope stream that holds `maxlen` entries (so it may have been trimmed) and whose oldest
    entry is newer than `after_id + 1` may have lost events the client never saw: that, or more
    than `limit` events, makes the result incomplete. (A stream that was trimmed only has
    already missed at least `maxlen` events for this client, so the test is exact in practice.)
    """
    after = _event_id(after_id)
    if limit is None:
        limit = get_settings().EVENT_REPLAY_LIMIT
    if maxlen is None:
        maxlen = get_settings().EVENT_STREAM_MAXLEN
    scopes = sorted(set(scopes))
    async with redis.pipeline(transaction=True) as pipe:
        pipe.get(SEQ_KEY)
        for scope in scopes:
            key = stream_key(scope)
            pipe.xrange(key, min=f"{after + 1}-0", count=limit + 1)
            pipe.xlen(key)
            pipe.xrange(key, count=1)
        results = await pipe.execute()
    head = int(results[0] or 0)
    events: list[Event] = []
    complete = after <= head  # an id from the future: the counter was reset, resync
    for i in range(len(scopes)):
        entries, length, oldest = results[1 + 3 * i : 4 + 3 * i]
        events.extend(Event(_entry_seq(eid), _entry_message(fields)) for eid, fields in entries)
        if length >= maxlen and oldest and _entry_seq(oldest[0][0]) > after + 1:
            complete = False
    events.sort(key=lambda event: event.id)
    if len(events) > limit:
        complete = False
        del events[limit:]
    return ReplayResult(events, head, complete)


def _entry_seq(entry_id: bytes | str) -> int:
    return int(_text(entry_id).partition("-")[0])


def _entry_message(fields: Mapping[Any, Any]) -> str:
    # bytes keys from a raw client, str keys from one made with decode_responses=True
    return _text(fields[b"m"] if b"m" in fields else fields["m"])


async def replay(
    redis: Redis, scopes: list[str], after_id: str, limit: int | None = None
) -> list[dict[str, Any]]:
    """The messages of `scopes` published after `after_id`, oldest first (at most `limit`)."""
    result = await read_since(redis, scopes, after_id, limit=limit)
    return [event.message() for event in result.events]
