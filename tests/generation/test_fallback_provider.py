"""A provider failure is tried once more on the model's fallback provider, and the
generation records which provider produced its outputs (issue 15). Real stack: the API,
the worker, Temporal and compute_sim, whose `fail_provider` knob takes one provider down."""

from __future__ import annotations

from typing import Any

from temporalio.client import Client

from compute_sim import ComputeSimServer
from tests.generation.conftest import wait_status
from tests.generation.support import make_sized_shot, sim_tasks, start_via_api
from tests.generation_models.support import make_model
from tests.helpers import Api, UserHandle
from tests.workflows.conftest import record_history

DONE = {"completed", "failed", "cancelled"}


async def _generate(
    api: Api, user: UserHandle, model: dict[str, Any], down: str
) -> tuple[dict[str, Any], dict[str, Any]]:
    world = await make_sized_shot(api, user)
    started = await start_via_api(
        api,
        user,
        world["org"],
        world["shot_ids"][0],
        model_id=model["id"],
        config={"sim": {"fail_provider": down}},
    )
    done = await wait_status(api, user, world["org"], started["id"], DONE, within=60)
    return started, done


async def test_a_provider_failure_moves_the_task_to_the_fallback_provider(
    api: Api,
    user: UserHandle,
    superuser: UserHandle,
    worker: dict[str, Any],
    sim: ComputeSimServer,
    temporal: Client,
) -> None:
    model = await make_model(api, superuser, provider="fal_standard", fallback_provider="vertex_ai")
    started, done = await _generate(api, user, model, down="fal_standard")
    assert done["status"] == "completed", done
    assert done["provider"] == "vertex_ai"
    assert len(done["predictions"]) == 1
    tasks = sim_tasks(sim, started["id"], "generation")
    assert [(t.inputs["model"]["provider"], t.status) for t in tasks] == [
        ("fal_standard", "failed"),
        ("vertex_ai", "completed"),
    ]
    assert tasks[0].error_category == "provider_error"
    # Only once: the fallback task names no further fallback.
    assert "fallback_provider" not in tasks[1].inputs["model"]
    await record_history(
        temporal.get_workflow_handle(started["workflow_id"]), "generation_fallback_provider"
    )


async def test_without_a_fallback_the_provider_failure_fails_the_generation(
    api: Api, user: UserHandle, superuser: UserHandle, worker: dict[str, Any], sim: ComputeSimServer
) -> None:
    model = await make_model(api, superuser, provider="fal_standard")
    started, done = await _generate(api, user, model, down="fal_standard")
    assert done["status"] == "failed", done
    assert done["error_category"] == "provider_error"
    assert done["provider"] == "fal_standard"
    assert len(sim_tasks(sim, started["id"], "generation")) == 1


async def test_a_healthy_provider_keeps_its_own_outputs(
    api: Api, user: UserHandle, superuser: UserHandle, worker: dict[str, Any], sim: ComputeSimServer
) -> None:
    model = await make_model(api, superuser, provider="fal_standard", fallback_provider="vertex_ai")
    started, done = await _generate(api, user, model, down="replicate")
    assert done["status"] == "completed", done
    assert done["provider"] == "fal_standard"
    assert len(sim_tasks(sim, started["id"], "generation")) == 1
