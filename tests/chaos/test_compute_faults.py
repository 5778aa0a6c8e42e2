"""A flaky Compute Server: 30 % of its API answers are 5xx, half of its task events are lost,
and those that arrive are duplicated and reordered. Every generation must still end in the
state it was meant to reach, exactly once.

Everything is real (Temporal, Postgres, Redis, S3, the production worker with its event
bridge); compute_sim supplies the faults: server-wide knobs for the transport faults, the
per-task `sim` object for the generations meant to fail or to hang until cancelled."""

from __future__ import annotations

import asyncio
from typing import Any

from fastapi import FastAPI

from compute_sim import ComputeSimServer
from core.config import Settings
from tests.chaos.conftest import ChaosReport
from tests.generation.conftest import make_shot, wait_status
from tests.generation.support import (
    compute_events,
    eventually,
    org_events,
    outcome_counts,
    sim_tasks,
    start_via_api,
)
from tests.helpers import Api, UserHandle

DONE = {"completed", "failed", "cancelled"}
NORMAL, FAILING, CANCELLED = 12, 3, 3
BATCH = 2  # outputs per normal generation
FAIL_MESSAGE = "injected model failure"
# How long a generation may take here. Every compute call is retried with PERSISTENT's
# backoff (1, 2, 4, 8, 16, then 30 s between attempts), so at a 30 % error rate a call that
# fails k times in a row delays its step by the sum of the first k intervals: six in a row
# (0.3**6: one step in ~1,400, and a run makes a few hundred such steps) is a minute, which
# the old budget of 60 s failed on in CI. 240 s takes twelve in a row (0.3**12: one step in
# ~2 million); the suite waits that long only when the tail happens.
WITHIN = 240


def _tasks_wanted(outcome: str) -> int:
    """Compute tasks a generation of this outcome runs: a failure blames the provider, so it
    is tried once more on the default model's fallback provider."""
    return 2 if outcome == "failed" else 1


async def _cancel_when_running(api: Api, user: UserHandle, org: str, generation_id: str) -> None:
    """Cancel once the generation waits on its (stuck) compute task: the cancel must reach
    the compute server through the 5xx answers too."""

    async def running() -> bool:
        r = await api.get(
            f"/generations/{generation_id}", as_=user, params={"organization_id": org}
        )
        body = r.json()
        assert body["status"] not in DONE, body
        return body["status"] == "processing" and bool(body["compute_task_id"])

    await eventually(running, within=WITHIN, what="generation processing with a compute task")
    r = await api.post(
        f"/generations/{generation_id}/cancel", as_=user, params={"organization_id": org}
    )
    assert r.status_code == 202, r.text


async def test_flaky_compute_every_generation_ends_right_exactly_once(
    api: Api,
    user: UserHandle,
    worker: dict[str, Any],
    knobs: ComputeSimServer,
    app: FastAPI,
    gen_settings: Settings,
    chaos_report: ChaosReport,
) -> None:
    world = await make_shot(api, user, shot_types=NORMAL + FAILING + CANCELLED)
    org = world["org"]
    shot_ids = list(world["shot_ids"])
    knobs.set_config(
        http_error_rate=0.3,
        drop_event_rate=0.5,
        duplicate_event_rate=0.5,
        reorder_events=True,
        progress_steps=2,
        latency_ms=300,
    )
    sim = knobs.app.state.sim
    injected_before, requests_before = sim.injected_errors, sim.faulty_requests

    # The API never talks to compute: these POSTs are not affected by the 5xx answers.
    expected: dict[str, str] = {}
    for _ in range(NORMAL):
        started = await start_via_api(api, user, org, shot_ids.pop(), batch_size=BATCH)
        expected[started["id"]] = "completed"
    for _ in range(FAILING):
        started = await start_via_api(
            api, user, org, shot_ids.pop(), config={"sim": {"fail": FAIL_MESSAGE}}
        )
        expected[started["id"]] = "failed"
    to_cancel = []
    for _ in range(CANCELLED):
        started = await start_via_api(
            api, user, org, shot_ids.pop(), config={"sim": {"stuck": True}}
        )
        expected[started["id"]] = "cancelled"
        to_cancel.append(started["id"])

    await asyncio.gather(*(_cancel_when_running(api, user, org, gid) for gid in to_cancel))
    finals = await asyncio.gather(
        *(wait_status(api, user, org, gid, DONE, within=WITHIN) for gid in expected)
    )
    done = {body["id"]: body for body in finals}

    # What each generation left behind: predictions, media rows, revisions, terminal events,
    # compute tasks.
    redis = app.state.redis
    facts: dict[str, dict[str, Any]] = {}
    for gid, want in expected.items():
        counts = await outcome_counts(app, gid)
        facts[gid] = {
            "status": done[gid]["status"],
            "counts": counts,
            "terminal_events": len(await org_events(redis, org, want, gid)),
            "tasks": sim_tasks(knobs, gid, "generation"),
        }

    def duplicated(gid: str) -> int:
        f = facts[gid]
        want_predictions = BATCH if expected[gid] == "completed" else 0
        return (
            max(f["terminal_events"] - 1, 0)
            + max(f["counts"]["predictions"] - want_predictions, 0)
            + max(f["counts"]["media_rows"] - want_predictions, 0)
            + max(f["counts"]["revisions"] - (1 if expected[gid] == "completed" else 0), 0)
            + max(len(f["tasks"]) - _tasks_wanted(expected[gid]), 0)
        )

    def lost(gid: str) -> bool:
        f = facts[gid]
        return f["status"] != expected[gid] or f["terminal_events"] == 0

    chaos_report.record(
        "compute: 30% 5xx, 50% events dropped, duplicated + reordered",
        runs=len(expected),
        completed=sum(
            1 for gid in expected if facts[gid]["status"] == expected[gid] and not lost(gid)
        ),
        duplicates=sum(duplicated(gid) for gid in expected),
        lost=sum(1 for gid in expected if lost(gid)),
    )

    # The faults were really there: 5xx answers, lost, duplicated and reordered events.
    # The 5xx answers are drawn at random (30 % of ~30 requests), so only "some were refused"
    # is certain; a fixed count failed CI once (9 of the expected ~10).
    injected = sim.injected_errors - injected_before
    requests = sim.faulty_requests - requests_before
    assert requests >= len(expected), (injected, requests)
    assert injected >= 1, (injected, requests)
    stream = gen_settings.COMPUTE_EVENTS_STREAM
    seen = {gid: await compute_events(redis, stream, gid) for gid in expected}
    normal_ids = [gid for gid, want in expected.items() if want == "completed"]
    completions = {
        gid: sum(e["event_type"] == "task.completed" for e in seen[gid]) for gid in normal_ids
    }
    assert any(n == 0 for n in completions.values()), completions  # dropped: polled instead
    assert any(n >= 2 for n in completions.values()), completions  # duplicated

    for gid, want in expected.items():
        f, body = facts[gid], done[gid]
        assert f["status"] == want, body
        assert f["terminal_events"] == 1, (gid, want, f["terminal_events"])
        # One compute task per provider however many times the submit was answered 5xx and
        # retried: a failure (compute_sim's `provider_error`) runs once more on the model's
        # fallback provider, so a failed generation has exactly two.
        providers = [t.inputs["model"]["provider"] for t in f["tasks"]]
        assert len(providers) == _tasks_wanted(want), (gid, [t.id for t in f["tasks"]])
        assert len(set(providers)) == len(providers), (gid, providers)
        counts = f["counts"]
        if want == "completed":
            assert body["progress"] == 1.0
            assert counts["keys"] == [(1, i) for i in range(BATCH)], counts
            assert counts["distinct_hashes"] == BATCH and counts["media_rows"] == BATCH
            assert counts["revisions"] == 1
            assert all(p["status"] == "completed" for p in body["predictions"])
        else:
            assert counts["predictions"] == 0 and counts["revisions"] == 0, counts
        if want == "failed":
            assert body["error_message"] == FAIL_MESSAGE, body
        if want == "cancelled":
            assert body["error_category"] == "cancelled", body
            # The cancel reached compute through the 5xx answers.
            assert f["tasks"][0].status == "cancelled", f["tasks"][0].status
