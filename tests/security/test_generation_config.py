"""Generation `config` is a closed set of bounded keys: anything else is a 422 naming the
key and writes nothing; `sim` (simulator fault knobs) exists only in development, at the
API and in the worker; a bad stored config fails its generation for good."""

from __future__ import annotations

import uuid
from typing import Any

import pytest
from fastapi import FastAPI
from sqlalchemy import func, select, update
from temporalio.client import Client, WorkflowExecutionStatus, WorkflowFailureError
from temporalio.exceptions import ActivityError, ApplicationError

from activities.generation import GenerationActivities
from core.compute import TaskCreate, TaskRef
from core.config import Settings
from core.starts import start_generation
from models.generation import Generation
from tests.generation.conftest import make_shot, wait_status
from tests.generation.support import create_generation_row
from tests.helpers import Api, UserHandle
from workflows.types import SubmitTaskInput

BAD_CONFIGS: list[tuple[dict[str, Any], list[str]]] = [
    ({"bogus": 1}, ["bogus"]),
    ({"max_attempts": 3, "__class__": "x"}, ["__class__"]),
    ({"output": {"width": 512, "height": 512, "dpi": 300}}, ["output", "dpi"]),
    ({"output": {"width": 100_000, "height": 512}}, ["output", "width"]),
    ({"output": {"width": 512, "height": 512, "format": "tiff"}}, ["output", "format"]),
    ({"deadline_seconds": 4}, ["deadline_seconds"]),  # below the floor (5 in the tests)
    ({"deadline_seconds": 10**9}, ["deadline_seconds"]),
    ({"poll_interval_seconds": 1}, ["poll_interval_seconds"]),
    ({"poll_interval_seconds": 301}, ["poll_interval_seconds"]),
    ({"max_attempts": 11}, ["max_attempts"]),
    ({"max_attempts": "3"}, ["max_attempts"]),
    ({"min_confidence_score": 1.5}, ["min_confidence_score"]),
    ({"seed": -1}, ["seed"]),
    ({"seed": 2**40}, ["seed"]),
    ({"prompt": "x" * 5_000}, ["prompt"]),
    ({"negative_prompt": ["a list"]}, ["negative_prompt"]),
    ({"sim": {"scores": [0.5] * 2_000}}, ["sim"]),  # bounded even in development
]


async def _generations_of(app: FastAPI, org: str) -> int:
    async with app.state.sessionmaker() as session:
        query = select(func.count()).select_from(Generation)
        return int(await session.scalar(query.where(Generation.organization_id == uuid.UUID(org))))


def _paths(world: dict[str, Any]) -> list[tuple[str, dict[str, Any]]]:
    shot_id = world["shot_ids"][0]
    return [
        ("/generations", {"shot_id": shot_id}),
        (f"/shots/{shot_id}/generate", {}),
        (f"/shootings/{world['shooting']['id']}/generate", {}),
    ]


async def _refused(
    api: Api, user: UserHandle, world: dict[str, Any], config: dict[str, Any], loc: list[str]
) -> None:
    for path, body in _paths(world):
        r = await api.post(
            path,
            as_=user,
            params={"organization_id": world["org"]},
            json={**body, "config": config},
        )
        assert r.status_code == 422, (path, r.text)
        locs = [e["loc"] for e in r.json()["detail"]]
        assert ["body", "config", *loc] in locs, (path, locs)


async def test_bad_configs_are_422_naming_the_key_and_write_nothing(
    api: Api, app: FastAPI, user: UserHandle
) -> None:
    world = await make_shot(api, user)
    for config, loc in BAD_CONFIGS:
        await _refused(api, user, world, config, loc)
    assert await _generations_of(app, world["org"]) == 0


async def test_sim_is_refused_outside_development(
    api: Api, app: FastAPI, user: UserHandle, settings: Settings
) -> None:
    world = await make_shot(api, user)
    app.state.settings = settings.model_copy(update={"ENVIRONMENT": "production"})
    try:
        await _refused(api, user, world, {"sim": {"stuck": True}}, ["sim"])
        r = await api.post(
            f"/shots/{world['shot_ids'][0]}/generate",
            as_=user,
            params={"organization_id": world["org"]},
            json={"config": {"sim": {}}},
        )
    finally:
        app.state.settings = settings
    assert r.json()["detail"][0]["msg"] == "config.sim is only accepted in development"
    assert await _generations_of(app, world["org"]) == 0


async def test_only_the_given_validated_keys_are_stored(
    api: Api, app: FastAPI, user: UserHandle
) -> None:
    world = await make_shot(api, user)
    config = {"seed": 7, "prompt": "red dress", "negative_prompt": None, "deadline_seconds": 60}
    row = await create_generation_row(app, user, world["org"], world["shot_ids"][0], config=config)
    async with app.state.sessionmaker() as session:
        stored = await session.get(Generation, uuid.UUID(str(row["id"])))
        assert stored is not None
        # None values are not kept; `output` is the look's (make_shot: 256x320).
        assert stored.config == {
            "seed": 7,
            "prompt": "red dress",
            "deadline_seconds": 60,
            "output": {"width": 256, "height": 320, "format": "jpg"},
        }


class _Compute:
    def __init__(self) -> None:
        self.tasks: list[TaskCreate] = []

    async def create_task(self, task: TaskCreate, *, idempotency_key: str) -> TaskRef:
        self.tasks.append(task)
        return TaskRef(id="task-1", status="pending")


@pytest.mark.parametrize(("environment", "sent"), [("production", None), ("test", 0.9)])
async def test_the_worker_sends_sim_to_compute_only_in_development(
    settings: Settings, environment: str, sent: float | None
) -> None:
    compute = _Compute()
    activities = GenerationActivities(
        settings=settings.model_copy(update={"ENVIRONMENT": environment}),
        sessionmaker=None,  # type: ignore[arg-type]
        redis=None,  # type: ignore[arg-type]
        compute=compute,  # type: ignore[arg-type]
        store=None,  # type: ignore[arg-type]
    )
    # A plan recorded with `sim` (before it was dropped at planning) still never sends it.
    await activities.submit_task(
        SubmitTaskInput(
            generation_id=str(uuid.uuid4()),
            task_type="evaluation",
            idempotency_key="k",
            try_number=1,
            inputs={},
            num_outputs=1,
            width=64,
            height=64,
            format="jpg",
            sim={"scores": [0.9]},
        )
    )
    (task,) = compute.tasks
    assert (task.sim or {}).get("score") == sent


async def test_a_bad_stored_config_fails_the_generation_for_good(
    api: Api, app: FastAPI, user: UserHandle, worker: dict[str, Any], temporal: Client
) -> None:
    """A row stored before these rules: the worker refuses its config, the generation ends
    `failed` with the reason (not retried forever, not left pending for the reconciler)."""
    world = await make_shot(api, user)
    org = world["org"]
    row = await create_generation_row(app, user, org, world["shot_ids"][0])
    generation_id = uuid.UUID(str(row["id"]))
    async with app.state.sessionmaker() as session:
        await session.execute(
            update(Generation)
            .where(Generation.id == generation_id)
            .values(config={"output": {"width": "huge", "height": 64}, "bogus": True})
        )
        await session.commit()
    handle = await start_generation(
        temporal,
        generation_id=generation_id,
        organization_id=uuid.UUID(org),
        owner_id=uuid.UUID(user.id),
        shooting_id=uuid.UUID(world["shooting"]["id"]),
    )
    done = await wait_status(api, user, org, str(generation_id), {"failed"}, within=30)
    assert done["error_category"] == "invalid_config", done
    assert "config.output.width" in done["error_message"], done
    assert "config.bogus" in done["error_message"], done
    with pytest.raises(WorkflowFailureError) as failure:
        await handle.result()
    cause = failure.value.cause
    assert isinstance(cause, ActivityError) and isinstance(cause.cause, ApplicationError)
    assert cause.cause.non_retryable and cause.cause.type == "InvalidConfig"
    assert (await handle.describe()).status == WorkflowExecutionStatus.FAILED
