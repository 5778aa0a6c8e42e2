"""In-memory task records: a simulator keeps no state across restarts, by design."""

from __future__ import annotations

import asyncio
import random
import threading
from collections import OrderedDict
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from core.compute import TERMINAL_STATUSES

if TYPE_CHECKING:
    from compute_sim.events import TaskEventEmitter


def utcnow() -> datetime:
    return datetime.now(UTC)


@dataclass(frozen=True)
class TaskPlan:
    """What will happen to a task, fixed at creation from SimConfig + its `sim` object,
    so a runtime config change never alters a task already accepted."""

    latency_s: float
    progress_steps: int
    fail_message: str | None  # None: the task succeeds (unless its work fails for real)
    error_category: str
    stuck: bool
    drop_rate: float
    duplicate_rate: float
    reorder: bool
    score: float | None = None
    scores: tuple[float, ...] = ()
    caption: str | None = None
    broken_output: str | None = None


@dataclass(frozen=True)
class StoredImage:
    key: str
    seed: int


@dataclass(eq=False)
class SimTask:
    id: str
    type: str
    entity_id: str
    inputs: dict[str, Any]
    num_outputs: int
    width: int
    height: int
    format: str
    plan: TaskPlan
    # Every random decision of the task (faults, seeds, event drops) comes from here, so
    # a task created with `inputs.seed` behaves the same on every run.
    rng: random.Random
    emitter: TaskEventEmitter
    idempotency_key: str | None = None
    # 0-based rank among the tasks of the same (type, entity_id): indexes `sim.scores`.
    attempt: int = 0
    status: str = "pending"
    progress: float = 0.0
    error_message: str | None = None
    error_category: str | None = None
    created_at: datetime = field(default_factory=utcnow)
    started_at: datetime | None = None
    completed_at: datetime | None = None
    images: list[StoredImage] = field(default_factory=list)
    text: str | None = None
    score: float | None = None
    cancel_requested: asyncio.Event = field(default_factory=asyncio.Event)

    @property
    def finished(self) -> bool:
        return self.status in TERMINAL_STATUSES


class TaskStore:
    """Tasks by id and by idempotency key. A threading lock (not an asyncio one) because
    the in-process server's owner may look at it from another thread; it is never held
    across an await."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._tasks: OrderedDict[str, SimTask] = OrderedDict()
        self._by_key: dict[str, str] = {}
        # (type, entity_id) -> tasks created so far; outlives evicted tasks, capped apart.
        self._attempts: OrderedDict[tuple[str, str], int] = OrderedDict()

    def __len__(self) -> int:
        with self._lock:
            return len(self._tasks)

    def get(self, task_id: str) -> SimTask | None:
        with self._lock:
            return self._tasks.get(task_id)

    def all(self) -> list[SimTask]:
        with self._lock:
            return list(self._tasks.values())

    def add(self, task: SimTask, *, max_tasks: int) -> tuple[SimTask, bool]:
        """Store `task`, or return the task already stored under its idempotency key.
        The bool says whether `task` was stored (False: a replay)."""
        with self._lock:
            key = task.idempotency_key
            if key is not None:
                existing_id = self._by_key.get(key)
                if existing_id is not None and existing_id in self._tasks:
                    return self._tasks[existing_id], False
                self._by_key[key] = task.id
            group = (task.type, task.entity_id)
            task.attempt = self._attempts.get(group, 0)
            self._attempts[group] = task.attempt + 1
            self._attempts.move_to_end(group)
            self._tasks[task.id] = task
            self._evict(max_tasks)
            return task, True

    def _evict(self, max_tasks: int) -> None:
        # Oldest finished first; unfinished tasks are never dropped (they may still run).
        excess = len(self._tasks) - max_tasks
        if excess > 0:
            victims: list[str] = []
            for task in self._tasks.values():  # oldest first; usually finished long ago
                if len(victims) == excess:
                    break
                if task.finished:
                    victims.append(task.id)
            for task_id in victims:
                task = self._tasks.pop(task_id)
                if task.idempotency_key is not None:
                    self._by_key.pop(task.idempotency_key, None)
        while len(self._attempts) > 2 * max_tasks:
            self._attempts.popitem(last=False)
