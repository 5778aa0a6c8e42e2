"""Compute task events → workflow signals: the Redis stream bridge and the webhook path.

Events are hints (DESIGN §6): an entry is acknowledged only after its signal was accepted,
an entry for a workflow that does not exist (or has ended) is skipped with a log line,
and entries a dead consumer left pending are claimed by another one.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import socket
import time
from collections.abc import Mapping
from typing import Any

from redis.asyncio import Redis
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import ResponseError
from redis.exceptions import TimeoutError as RedisTimeoutError
from temporalio.client import Client
from temporalio.service import RPCError, RPCStatusCode

from core.metrics import BRIDGE_EVENTS, BRIDGE_LAG_SECONDS
from workflows.types import ComputeEvent

log = logging.getLogger("sartiq.compute_events")

SIGNAL = "compute_event"
# Task types whose entity is a generation (evaluations belong to their generation).
WORKFLOW_PREFIX = {"generation": "generation", "evaluation": "generation", "caption": "caption"}


def workflow_id_for(fields: Mapping[str, Any]) -> str | None:
    entity_id = fields.get("entity_id")
    prefix = WORKFLOW_PREFIX.get(str(fields.get("task_type") or "generation"))
    if not entity_id or prefix is None:
        return None
    return f"{prefix}-{entity_id}"


def to_signal(fields: Mapping[str, Any]) -> ComputeEvent:
    def text(name: str) -> str | None:
        value = fields.get(name)
        return str(value) if value not in (None, "") else None

    progress = text("progress")
    value = float(progress) if progress is not None else None
    if value is not None and value > 1:  # some producers send percentages (DOMAIN §3.4)
        value = value / 100
    return ComputeEvent(
        task_id=str(fields.get("task_id") or ""),
        event_type=str(fields.get("event_type") or ""),
        status=text("status"),
        progress=value,
        error_message=text("error_message"),
        error_category=text("error_category"),
    )


async def deliver(client: Client, fields: Mapping[str, Any]) -> bool:
    """Signal the event's workflow. True when handled (signalled, or nothing to signal);
    False when it should be tried again later."""
    workflow_id = workflow_id_for(fields)
    if workflow_id is None or not fields.get("task_id"):
        log.info("skipping compute event without entity/task: %s", dict(fields))
        return True
    try:
        await client.get_workflow_handle(workflow_id).signal(SIGNAL, to_signal(fields))
    except RPCError as error:
        if error.status == RPCStatusCode.NOT_FOUND:
            log.info("skipping compute event for unknown or closed workflow %s", workflow_id)
            return True
        log.warning("signal to %s failed (%s); will retry", workflow_id, error.status)
        return False
    return True


def _decode(raw: Mapping[bytes | str, bytes | str]) -> dict[str, str]:
    def s(value: bytes | str) -> str:
        return value.decode() if isinstance(value, bytes) else value

    return {s(k): s(v) for k, v in raw.items()}


class ComputeEventBridge:
    """XREADGROUP on the compute stream → signals; one consumer per worker process."""

    def __init__(
        self,
        *,
        redis: Redis,
        client: Client,
        stream: str,
        group: str,
        consumer: str | None = None,
        claim_idle_ms: int = 30_000,
        block_ms: int = 1000,
        batch: int = 100,
        concurrency: int = 32,
    ) -> None:
        self.redis = redis
        self.client = client
        self.stream = stream
        self.group = group
        self.consumer = consumer or f"{socket.gethostname()}-{os.getpid()}"
        self.claim_idle_ms = claim_idle_ms
        self.block_ms = block_ms
        self.batch = batch
        self.concurrency = concurrency
        self.delivered = 0
        self.last_lag_ms: float | None = None
        self._stopping = asyncio.Event()

    async def ensure_group(self) -> None:
        try:
            # "$": a new group starts at new events; older ones were meant for a previous life.
            await self.redis.xgroup_create(self.stream, self.group, id="$", mkstream=True)
        except ResponseError as error:
            if "BUSYGROUP" not in str(error):
                raise

    async def _handle(self, entries: list[tuple[Any, Any]]) -> None:
        """Signal a batch concurrently (one at a time made a burst of events wait seconds),
        then acknowledge exactly the entries whose signal was accepted."""
        limit = asyncio.Semaphore(self.concurrency)

        async def one(entry_id: Any, raw: Any) -> Any | None:
            if raw is None:  # deleted while pending
                return entry_id
            async with limit:
                delivered = await deliver(self.client, _decode(raw))
            if not delivered:
                return None
            self.delivered += 1
            self._record_lag(entry_id)
            return entry_id

        results = await asyncio.gather(*(one(entry_id, raw) for entry_id, raw in entries))
        done = [entry_id for entry_id in results if entry_id is not None]
        if done:
            await self.redis.xack(self.stream, self.group, *done)

    def _record_lag(self, entry_id: bytes | str) -> None:
        ident = entry_id.decode() if isinstance(entry_id, bytes) else entry_id
        BRIDGE_EVENTS.inc()
        with contextlib.suppress(ValueError):
            self.last_lag_ms = time.time() * 1000 - int(ident.split("-", 1)[0])
            BRIDGE_LAG_SECONDS.set(max(0.0, self.last_lag_ms / 1000))

    async def _claim_stale(self) -> None:
        """Take over entries another (dead) consumer read but never acknowledged."""
        start = "0-0"
        while True:
            result = await self.redis.xautoclaim(
                self.stream, self.group, self.consumer, self.claim_idle_ms, start, count=self.batch
            )
            start, entries = result[0], result[1]
            if entries:
                await self._handle(entries)
            if start in (b"0-0", "0-0") or not entries:
                return

    async def run(self) -> None:
        backoff = 0.5
        last_claim = 0.0
        while not self._stopping.is_set():
            try:
                await self.ensure_group()
                if time.monotonic() - last_claim > self.claim_idle_ms / 2000:
                    await self._claim_stale()
                    last_claim = time.monotonic()
                # ">" = new entries; our own pending ones are re-read via autoclaim.
                response = await self.redis.xreadgroup(
                    self.group,
                    self.consumer,
                    {self.stream: ">"},
                    count=self.batch,
                    block=self.block_ms,
                )
                for _stream, entries in response or []:
                    await self._handle(entries)
                backoff = 0.5
            except asyncio.CancelledError:
                raise
            except (RedisConnectionError, RedisTimeoutError, OSError) as error:
                log.warning("compute event bridge: redis unavailable (%s); retrying", error)
                await asyncio.sleep(backoff)
                backoff = min(backoff * 2, 10)
            except Exception:
                log.exception("compute event bridge error; retrying")
                await asyncio.sleep(backoff)
                backoff = min(backoff * 2, 10)

    def stop(self) -> None:
        self._stopping.set()
