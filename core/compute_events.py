"""Compute task events → workflow signals: the Redis stream bridge and the webhook path.

Events are hints (DESIGN §6): an entry is acknowledged only after its signal was accepted,
an entry for a workflow that does not exist (or has ended) is skipped with a log line,
and entries a dead consumer left pending are claimed by another one. Both paths parse with
`parse` (core/compute.py TaskEvent): a malformed entry is acknowledged, counted
(`sartiq_compute_event_bridge_malformed_total`) and logged once, never retried; on the
webhook it is a 422.
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

from pydantic import ValidationError
from redis.asyncio import Redis
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import ResponseError
from redis.exceptions import TimeoutError as RedisTimeoutError
from temporalio.client import Client
from temporalio.service import RPCError, RPCStatusCode

from core.compute import TaskEvent
from core.compute_signal import SIGNAL, ComputeEvent
from core.metrics import BRIDGE_EVENTS, BRIDGE_LAG_SECONDS, BRIDGE_MALFORMED

log = logging.getLogger("sartiq.compute_events")

# Task types whose entity is a generation (evaluations belong to their generation).
WORKFLOW_PREFIX = {"generation": "generation", "evaluation": "generation", "caption": "caption"}
MAX_PROBLEM_CHARS = 500


class MalformedEvent(ValueError):
    """An event that breaks the contract (DESIGN §6): no retry can make it valid, so it is
    refused (webhook: 422) or acknowledged and counted (stream), never signalled."""

    def __init__(self, problems: str) -> None:
        super().__init__(problems)
        self.problems = problems


def parse(fields: Mapping[Any, Any]) -> TaskEvent:
    """The one validated parser for both paths: stream fields and webhook bodies."""
    try:
        return TaskEvent.from_fields(fields)
    except ValidationError as error:
        problems = "; ".join(
            f"{'.'.join(str(p) for p in e['loc']) or 'event'}: {e['msg']}" for e in error.errors()
        )
        raise MalformedEvent(problems[:MAX_PROBLEM_CHARS]) from None


def workflow_id_for(event: TaskEvent) -> str | None:
    prefix = WORKFLOW_PREFIX.get(event.task_type or "generation")
    if not event.entity_id or prefix is None:
        return None
    return f"{prefix}-{event.entity_id}"


def signal_of(event: TaskEvent) -> ComputeEvent:
    return ComputeEvent(
        task_id=event.task_id,
        event_type=event.event_type,
        status=event.status,
        progress=event.progress,
        error_message=event.error_message,
        error_category=event.error_category,
    )


def to_signal(fields: Mapping[Any, Any]) -> ComputeEvent:
    """The signal of raw fields; MalformedEvent when they break the contract."""
    return signal_of(parse(fields))


async def deliver(client: Client, event: TaskEvent) -> bool:
    """Signal the event's workflow. True when handled (signalled, or nothing to signal);
    False when it should be tried again later."""
    workflow_id = workflow_id_for(event)
    if workflow_id is None or not event.task_id:
        log.info("skipping compute event without entity/task: %s", event.model_dump())
        return True
    try:
        await client.get_workflow_handle(workflow_id).signal(SIGNAL, signal_of(event))
    except RPCError as error:
        if error.status == RPCStatusCode.NOT_FOUND:
            log.info("skipping compute event for unknown or closed workflow %s", workflow_id)
            return True
        log.warning("signal to %s failed (%s); will retry", workflow_id, error.status)
        return False
    return True


def _text(value: bytes | str) -> str:
    return value.decode() if isinstance(value, bytes) else value


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
            try:
                event = parse(raw)
            except MalformedEvent as error:
                # Acknowledged with the batch: reclaiming it would fail the same way forever.
                # So this warning is written once per entry.
                BRIDGE_MALFORMED.inc()
                log.warning(
                    "dropping malformed compute event %s: %s", _text(entry_id), error.problems
                )
                return entry_id
            async with limit:
                delivered = await deliver(self.client, event)
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
        ident = _text(entry_id)
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
