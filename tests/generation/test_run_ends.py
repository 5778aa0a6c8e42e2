"""Every generation ends, within its deadline, in a state an operator can read (issue 13).

Before: an output that is not an image failed the run as `internal_error`; a status poll
that compute kept refusing retried for ever (an unbounded retry policy), so the deadline
check after it was never reached and the generation stayed `processing`.
"""

from __future__ import annotations

import time
from typing import Any

import pytest
from temporalio.client import Client

from compute_sim import ComputeSimServer
from tests.generation.conftest import wait_status
from tests.generation.support import make_sized_shot, start_via_api
from tests.helpers import Api, UserHandle
from tests.workflows.conftest import record_history

DONE = {"completed", "failed", "cancelled"}


@pytest.mark.parametrize(
    ("broken", "category"),
    [("not_image", "invalid_output"), ("missing", "missing_output")],
)
async def test_an_output_no_retry_can_fix_fails_the_generation_at_once(
    api: Api,
    user: UserHandle,
    worker: dict[str, Any],
    temporal: Client,
    broken: str,
    category: str,
) -> None:
    world = await make_sized_shot(api, user)
    org = world["org"]
    began = time.monotonic()
    started = await start_via_api(
        api,
        user,
        org,
        world["shot_ids"][0],
        config={"deadline_seconds": 60, "sim": {"broken_output": broken}},
    )
    # Non-retryable: far sooner than the deadline (and than one retry backoff cycle).
    done = await wait_status(api, user, org, started["id"], DONE, within=20)
    assert done["status"] == "failed", done
    assert done["error_category"] == category, done
    assert done["error_message"]
    # its placeholders ended in error, none holds an output
    assert [(p["status"], p["media_resource_id"]) for p in done["predictions"]] == [("error", None)]
    assert time.monotonic() - began < 20
    await record_history(
        temporal.get_workflow_handle(started["workflow_id"]), f"generation_output_{broken}"
    )


async def test_compute_out_of_reach_until_the_deadline_fails_the_generation(
    api: Api, user: UserHandle, worker: dict[str, Any], knobs: ComputeSimServer, temporal: Client
) -> None:
    """Every request to compute answers 5xx from the moment the task runs: the polls are
    bounded by the deadline, the cancel is best effort, the generation ends `failed`."""
    world = await make_sized_shot(api, user)
    org = world["org"]
    started = await start_via_api(
        api,
        user,
        org,
        world["shot_ids"][0],
        config={"deadline_seconds": 10, "sim": {"stuck": True}},
    )
    await wait_status(api, user, org, started["id"], {"processing"} | DONE, within=20)
    knobs.config = knobs.config.merged({"http_error_rate": 1.0})
    # the deadline, then five cancel attempts 1 + 2 + 4 + 8 s apart, then the final write
    done = await wait_status(api, user, org, started["id"], DONE, within=60)
    assert done["status"] == "failed", done
    assert done["error_category"] == "deadline_exceeded", done
    handle = temporal.get_workflow_handle(started["workflow_id"])
    await handle.result()
    await record_history(handle, "generation_compute_out_of_reach")
