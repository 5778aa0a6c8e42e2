"""The in-memory task store: idempotency and the cap on remembered tasks."""

from __future__ import annotations

import random
from typing import Any

from compute_sim.config import SimConfig
from compute_sim.runner import make_plan
from compute_sim.store import SimTask, TaskStore


def _task(task_id: str, *, status: str = "completed", key: str | None = None) -> SimTask:
    rng = random.Random(0)
    emitter: Any = None  # never used by the store
    return SimTask(
        id=task_id,
        type="generation",
        entity_id="e",
        inputs={},
        num_outputs=1,
        width=8,
        height=8,
        format="png",
        plan=make_plan(SimConfig(), None, rng),
        rng=rng,
        emitter=emitter,
        idempotency_key=key,
        status=status,
    )


def test_add_task_cap_drops_oldest_finished_only() -> None:
    store = TaskStore()
    store.add(_task("running-1", status="running"), max_tasks=3)
    store.add(_task("done-1", key="k1"), max_tasks=3)
    store.add(_task("done-2"), max_tasks=3)

    store.add(_task("done-3"), max_tasks=3)
    store.add(_task("done-4"), max_tasks=3)

    assert [t.id for t in store.all()] == ["running-1", "done-3", "done-4"]
    replay, created = store.add(_task("again", key="k1"), max_tasks=3)
    assert created and replay.id == "again"  # the evicted task's key is forgotten too


def test_add_task_same_key_returns_first_and_counts_attempts() -> None:
    store = TaskStore()
    first, created_first = store.add(_task("a", key="k"), max_tasks=10)
    second, created_second = store.add(_task("b", key="k"), max_tasks=10)
    third, _ = store.add(_task("c"), max_tasks=10)

    assert (created_first, created_second) == (True, False)
    assert second is first
    assert (first.attempt, third.attempt) == (0, 1)
