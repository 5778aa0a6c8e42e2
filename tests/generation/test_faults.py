"""GenerationWorkflow under faults: lost, duplicated and reordered compute events, cancel,
deadline, a worker process killed mid-run, AGENTIC retries and a refused submission.

Everything is real: Temporal, Postgres, Redis, the object store and compute_sim (faults
are asked for per task through `config.sim`)."""

from __future__ import annotations

import asyncio
import contextlib
import uuid
from datetime import datetime
from pathlib import Path
from typing import Any

from fastapi import FastAPI
from temporalio.client import Client, WorkflowExecutionStatus, WorkflowFailureError

from compute_sim import ComputeSimServer
from core.compute import ComputeClient
from core.compute_events import deliver, parse
from core.config import Settings
from core.starts import start_generation
from tests.generation.conftest import wait_status
from tests.generation.support import (
    compute_events,
    create_generation_row,
    eventually,
    forget_sim_task,
    make_sized_shot,
    org_events,
    outcome_counts,
    prediction_tasks,
    sim_tasks,
    start_via_api,
)
from tests.helpers import Api, UserHandle, WorkerProcess
from tests.workflows.conftest import record_history
from workflows.generation import GenerationWorkflow

DONE = {"completed", "failed", "cancelled"}


async def _compute_task(sim: ComputeSimServer, settings: Settings, task_id: str) -> Any:
    async with ComputeClient(sim.url or "", settings.COMPUTE_SERVER_ADMIN_TOKEN) as compute:
        return await compute.get_task(task_id)


async def _processing_with_task(
    api: Api, user: UserHandle, org: str, generation_id: str
) -> dict[str, Any]:
    """Wait until the generation is processing and its compute task exists."""

    async def probe() -> dict[str, Any] | None:
        r = await api.get(
            f"/generations/{generation_id}", as_=user, params={"organization_id": org}
        )
        body = r.json()
        assert body["status"] not in DONE, body
        return body if body["status"] == "processing" and body["compute_task_id"] else None

    return await eventually(probe, within=20, what="generation processing with a compute task")


# -- events --------------------------------------------------------------------------------


async def test_generate_every_event_dropped_completes_by_polling(
    api: Api, user: UserHandle, worker: dict[str, Any], app: FastAPI, gen_settings: Settings
) -> None:
    world = await make_sized_shot(api, user)
    org = world["org"]
    started = await start_via_api(
        api, user, org, world["shot_ids"][0], batch_size=2, config={"sim": {"drop_events": True}}
    )
    done = await wait_status(api, user, org, started["id"], DONE, within=20)
    assert done["status"] == "completed", done
    assert done["progress"] == 1.0
    assert len(done["predictions"]) == 2
    assert all(p["status"] == "completed" and p["media_resource_id"] for p in done["predictions"])
    # nothing reached the stream: the polling fallback did all the work
    stream = gen_settings.COMPUTE_EVENTS_STREAM
    assert await compute_events(app.state.redis, stream, started["id"]) == []


async def test_generate_duplicated_reordered_events_completes_once(
    api: Api,
    user: UserHandle,
    worker: dict[str, Any],
    app: FastAPI,
    gen_settings: Settings,
    temporal: Client,
) -> None:
    world = await make_sized_shot(api, user)
    org = world["org"]
    redis, stream = app.state.redis, gen_settings.COMPUTE_EVENTS_STREAM
    started = await start_via_api(
        api,
        user,
        org,
        world["shot_ids"][0],
        batch_size=2,
        config={
            "sim": {
                "duplicate_events": True,
                "reorder_events": True,
                "latency_ms": 1200,
                "progress_steps": 2,  # even: the terminal event overtakes the last progress
            }
        },
    )
    gid = started["id"]

    # mid-run: the first event the bridge saw, delivered twice more by hand
    first = await eventually(
        lambda: compute_events(redis, stream, gid), within=20, what="a compute event"
    )
    assert await deliver(temporal, parse(first[0])) is True
    assert await deliver(temporal, parse(first[0])) is True

    done = await wait_status(api, user, org, gid, DONE, within=20)
    assert done["status"] == "completed", done
    seen = await compute_events(redis, stream, gid)
    completed_events = [e for e in seen if e["event_type"] == "task.completed"]
    assert len(completed_events) == 2  # the simulator did duplicate
    # ...and reordered: a stale progress event arrived after the completion
    assert seen[-1]["event_type"] == "task.progress", [
        (e["event_type"], e.get("seq"), e.get("progress")) for e in seen
    ]

    before = await outcome_counts(app, gid)
    assert before["predictions"] == 2
    assert before["keys"] == [(1, 0), (1, 1)]
    assert before["distinct_hashes"] == 2 and before["media_rows"] == 2
    assert before["revisions"] == 1
    assert len(await org_events(redis, org, "completed", gid)) == 1

    # after the end: the terminal event again, twice, changes nothing
    for _ in range(2):
        assert await deliver(temporal, parse(completed_events[0])) is True
    assert await outcome_counts(app, gid) == before
    assert len(await org_events(redis, org, "completed", gid)) == 1
    again = await wait_status(api, user, org, gid, DONE, within=5)
    assert again["status"] == "completed"
    assert again["updated_at"] == done["updated_at"]


# -- cancel and deadline -------------------------------------------------------------------


async def test_cancel_generation_mid_run_cancels_compute_task(
    api: Api,
    user: UserHandle,
    worker: dict[str, Any],
    sim: ComputeSimServer,
    gen_settings: Settings,
    temporal: Client,
) -> None:
    world = await make_sized_shot(api, user)
    org = world["org"]
    started = await start_via_api(
        api, user, org, world["shot_ids"][0], config={"sim": {"stuck": True}}
    )
    running = await _processing_with_task(api, user, org, started["id"])
    task_id = running["compute_task_id"]

    r = await api.post(
        f"/generations/{started['id']}/cancel", as_=user, params={"organization_id": org}
    )
    assert r.status_code == 202, r.text
    done = await wait_status(api, user, org, started["id"], DONE, within=15)
    assert done["status"] == "cancelled", done
    assert done["error_category"] == "cancelled"
    assert (await _compute_task(sim, gen_settings, task_id)).status == "cancelled"
    description = await temporal.get_workflow_handle(started["workflow_id"]).describe()
    assert description.status == WorkflowExecutionStatus.CANCELED
    await record_history(
        temporal.get_workflow_handle(started["workflow_id"]), "generation_cancelled"
    )

    again = await api.post(
        f"/generations/{started['id']}/cancel", as_=user, params={"organization_id": org}
    )
    assert again.status_code == 409, again.text


async def test_cancel_ends_cancelled_when_compute_refuses_to_cancel(
    api: Api, user: UserHandle, worker: dict[str, Any], knobs: ComputeSimServer
) -> None:
    """Compute answers 5xx to every request while the cancel is retried (five attempts):
    the user's cancel still ends the generation `cancelled`, not `failed`."""
    world = await make_sized_shot(api, user)
    org = world["org"]
    started = await start_via_api(
        api, user, org, world["shot_ids"][0], config={"sim": {"stuck": True}}
    )
    await _processing_with_task(api, user, org, started["id"])
    knobs.config = knobs.config.merged({"http_error_rate": 1.0})
    refused_before = knobs.app.state.sim.injected_errors
    r = await api.post(
        f"/generations/{started['id']}/cancel", as_=user, params={"organization_id": org}
    )
    assert r.status_code == 202, r.text
    # five attempts, 1 + 2 + 4 + 8 s apart
    done = await wait_status(api, user, org, started["id"], DONE, within=40)
    assert done["status"] == "cancelled", done
    assert done["error_category"] == "cancelled"
    assert knobs.app.state.sim.injected_errors - refused_before >= 5


async def test_cancel_generation_right_after_start_ends_cancelled(
    api: Api, user: UserHandle, worker: dict[str, Any], temporal: Client, sim: ComputeSimServer
) -> None:
    """The cancel lands before, or while, the workflow marks the row processing or submits
    the compute task (activities in flight)."""
    world = await make_sized_shot(api, user)
    org = world["org"]
    started = await start_via_api(
        api, user, org, world["shot_ids"][0], config={"sim": {"stuck": True}}
    )
    r = await api.post(
        f"/generations/{started['id']}/cancel", as_=user, params={"organization_id": org}
    )
    assert r.status_code == 202, r.text
    done = await wait_status(api, user, org, started["id"], DONE, within=15)
    assert done["status"] == "cancelled", done
    # A generation still pending is cancelled by the API at once; its workflow ends after.
    handle = temporal.get_workflow_handle(started["workflow_id"])
    with contextlib.suppress(WorkflowFailureError):
        await asyncio.wait_for(handle.result(), timeout=15)
    description = await handle.describe()
    assert description.status == WorkflowExecutionStatus.CANCELED
    # a compute task submitted meanwhile (if any) was cancelled, not left running
    assert all(t.status == "cancelled" for t in sim_tasks(sim, started["id"], "generation"))


async def test_generate_past_deadline_fails_and_cancels_compute_task(
    api: Api,
    user: UserHandle,
    worker: dict[str, Any],
    sim: ComputeSimServer,
    gen_settings: Settings,
) -> None:
    world = await make_sized_shot(api, user)
    org = world["org"]
    started = await start_via_api(
        api,
        user,
        org,
        world["shot_ids"][0],
        config={"deadline_seconds": 10, "sim": {"stuck": True}},
    )
    running = await _processing_with_task(api, user, org, started["id"])
    done = await wait_status(api, user, org, started["id"], DONE, within=25)
    assert done["status"] == "failed", done
    assert done["error_category"] == "deadline_exceeded"
    # its placeholders ended in error, none holds an output
    assert [(p["status"], p["media_resource_id"]) for p in done["predictions"]] == [("error", None)]
    task = await _compute_task(sim, gen_settings, running["compute_task_id"])
    assert task.status == "cancelled"


async def test_generate_task_lost_by_compute_fails_instead_of_hanging(
    api: Api, user: UserHandle, worker: dict[str, Any], sim: ComputeSimServer
) -> None:
    """The status poll answers 404 (not retryable): the generation ends `failed`, it does
    not stay `processing` behind a failed workflow."""
    world = await make_sized_shot(api, user)
    org = world["org"]
    started = await start_via_api(
        api, user, org, world["shot_ids"][0], config={"sim": {"stuck": True}}
    )
    running = await _processing_with_task(api, user, org, started["id"])
    forget_sim_task(sim, running["compute_task_id"])
    done = await wait_status(api, user, org, started["id"], DONE, within=10)
    assert done["status"] == "failed", done
    assert done["error_category"] == "compute_error"
    assert "404" in (done["error_message"] or "")


# -- a worker process killed mid-run ----------------------------------------------------------


async def _waiting_quietly(
    temporal: Client, sim: ComputeSimServer, gid: str, task_type: str
) -> bool:
    """Whether the generation's workflow waits on its running `task_type` compute task with
    no activity in flight (so a kill now loses no activity result, only the worker)."""
    tasks = [t for t in sim_tasks(sim, gid, task_type) if t.status == "running"]
    if not tasks:
        return False
    handle = temporal.get_workflow_handle(f"generation-{gid}")
    if (await handle.query(GenerationWorkflow.progress)).task_id != tasks[-1].id:
        return False
    return not (await handle.describe()).raw_description.pending_activities


async def test_worker_killed_mid_run_completes_without_duplicates(
    api: Api,
    user: UserHandle,
    app: FastAPI,
    sim: ComputeSimServer,
    gen_settings: Settings,
    temporal: Client,
    tmp_path: Path,
) -> None:
    """One SIGKILL of a real `python worker.py`, with two generations at different points:
    `waiting` while its compute task runs, `stored` after its outputs were copied into the
    bucket, while their (AGENTIC) evaluation runs, before any prediction was recorded.
    A new worker process finishes both, each exactly once."""
    org = user.orgs[0]
    requests: dict[str, dict[str, Any]] = {
        "waiting": {"batch_size": 2, "config": {"sim": {"latency_ms": 10_000}}},
        "stored": {
            "batch_size": 2,
            "generation_type": "AGENTIC",
            "config": {
                "max_attempts": 1,
                "min_confidence_score": 0.5,
                "sim": {"latency_ms": 3000, "score": 0.8},
            },
        },
    }
    rows = {}
    for name, body in requests.items():
        world = await make_sized_shot(api, user)
        rows[name] = await create_generation_row(app, user, org, world["shot_ids"][0], **body)
    ids = {name: str(row["id"]) for name, row in rows.items()}

    prefix = f"kill-{uuid.uuid4().hex[:8]}-"
    proc = WorkerProcess(gen_settings, prefix, tmp_path / "worker.log")
    try:
        proc.start()
        handles = {
            name: await start_generation(
                temporal,
                generation_id=uuid.UUID(ids[name]),
                organization_id=uuid.UUID(org),
                owner_id=uuid.UUID(user.id),
                shooting_id=uuid.UUID(str(row["shooting_id"])),
                task_queue_prefix=prefix,
            )
            for name, row in rows.items()
        }

        async def both_at_their_point() -> bool:
            proc.assert_alive()
            return await _waiting_quietly(
                temporal, sim, ids["waiting"], "generation"
            ) and await _waiting_quietly(temporal, sim, ids["stored"], "evaluation")

        await eventually(both_at_their_point, within=30, what="both generations at their point")
        proc.kill()

        for name, gid in ids.items():
            at_kill = await outcome_counts(app, gid)
            assert at_kill["predictions"] == 0 and at_kill["revisions"] == 0, name
            body = await wait_status(api, user, org, gid, DONE | {"processing"})
            assert body["status"] == "processing", body

        proc.start()
        done = {
            name: await wait_status(api, user, org, gid, DONE, within=60)
            for name, gid in ids.items()
        }
        # The row is completed one workflow task before the run is: wait for the runs
        # while the worker lives (killed first, a run could be left open for good).
        async with asyncio.timeout(60):
            results = {name: await handle.result() for name, handle in handles.items()}
        proc.assert_alive()
    finally:
        proc.kill()

    assert proc.starts == 2
    for name, gid in ids.items():
        assert done[name]["status"] == "completed", done[name]
        assert results[name] == "completed"
        counts = await outcome_counts(app, gid)
        assert counts["predictions"] == 2, name
        assert counts["distinct_hashes"] == 2 and counts["media_rows"] == 2, name
        assert counts["revisions"] == 1, name
        assert len(await org_events(app.state.redis, org, "completed", gid)) == 1, name
        # the new process found the compute task again instead of submitting another one
        assert len(sim_tasks(sim, gid, "generation")) == 1, name
    assert len(sim_tasks(sim, ids["stored"], "evaluation")) == 1


# -- AGENTIC ------------------------------------------------------------------------------------


async def _agentic(
    api: Api, user: UserHandle, scores: list[float]
) -> tuple[dict[str, Any], dict[str, Any], str]:
    world = await make_sized_shot(api, user)
    org = world["org"]
    started = await start_via_api(
        api,
        user,
        org,
        world["shot_ids"][0],
        generation_type="AGENTIC",
        config={"max_attempts": 3, "min_confidence_score": 0.7, "sim": {"scores": scores}},
    )
    done = await wait_status(api, user, org, started["id"], DONE, within=30)
    shot = await api.get(
        f"/shots/{world['shot_ids'][0]}", as_=user, params={"organization_id": org}
    )
    return done, shot.json(), org


def _media_of_try(done: dict[str, Any], attempt: int) -> list[str]:
    return [p["media_resource_id"] for p in done["predictions"] if p["attempt"] == attempt]


async def test_agentic_generation_retries_until_score_reached(
    api: Api,
    user: UserHandle,
    worker: dict[str, Any],
    sim: ComputeSimServer,
    app: FastAPI,
    temporal: Client,
) -> None:
    done, shot, _org = await _agentic(api, user, [0.2, 0.5, 0.9])
    assert done["status"] == "completed", done
    await record_history(temporal.get_workflow_handle(done["workflow_id"]), "generation_agentic")
    assert sorted(p["attempt"] for p in done["predictions"]) == [1, 2, 3]
    assert [p["score"] for p in done["predictions"]] == [0.2, 0.5, 0.9]
    assert done["best_score"] == 0.9
    assert shot["current_revision"]["generation_id"] == done["id"]
    assert shot["current_revision"]["media_resource_ids"] == _media_of_try(done, 3)
    # three tries: three generation tasks and three evaluations in compute, and each
    # try's predictions name the generation task that made them (not the evaluation)
    generation_tasks = [t.id for t in sim_tasks(sim, done["id"], "generation")]
    assert len(generation_tasks) == 3
    assert len(sim_tasks(sim, done["id"], "evaluation")) == 3
    assert await prediction_tasks(app, done["id"]) == {
        attempt: {task_id} for attempt, task_id in enumerate(generation_tasks, start=1)
    }


async def test_agentic_generation_below_threshold_keeps_best(
    api: Api, user: UserHandle, worker: dict[str, Any], app: FastAPI
) -> None:
    done, shot, _org = await _agentic(api, user, [0.3, 0.6, 0.4])
    assert done["status"] == "completed", done
    assert sorted(p["attempt"] for p in done["predictions"]) == [1, 2, 3]
    assert [p["score"] for p in done["predictions"]] == [0.3, 0.6, 0.4]
    assert done["best_score"] == 0.6
    assert shot["current_revision"]["media_resource_ids"] == _media_of_try(done, 2)
    assert (await outcome_counts(app, done["id"]))["revisions"] == 1


# -- submission refused -------------------------------------------------------------------------


async def test_generate_rejected_by_compute_fails_without_retrying(
    api: Api, user: UserHandle, worker: dict[str, Any], sim: ComputeSimServer, temporal: Client
) -> None:
    # 5000 px passes the API (look sides are up to 8192) but compute_sim refuses it (422)
    world = await make_sized_shot(api, user, width=5000, height=5000)
    org = world["org"]
    started = await start_via_api(api, user, org, world["shot_ids"][0])
    done = await wait_status(api, user, org, started["id"], DONE, within=10)
    assert done["status"] == "failed", done
    assert done["error_category"] == "submission_error"
    assert "422" in (done["error_message"] or "")
    # one refused attempt, no retry loop: over within a few seconds, no task in compute
    took = datetime.fromisoformat(done["completed_at"]) - datetime.fromisoformat(done["started_at"])
    assert took.total_seconds() < 5
    assert await temporal.get_workflow_handle(started["workflow_id"]).result() == "failed"
    assert done["compute_task_id"] is None
    assert sim_tasks(sim, started["id"], "generation") == []
