"""The Temporal UI tells the truth (issue 14): every run ends with `SartiqStatus` equal to its
entity's status, carries a summary naming what it works on, and `sartiq runs` lists the same.

Before: the attribute was called `Status` (which the UI shows in place of its own status
column); caption runs that completed read "running" (their end never set it), and runs had
summaries such as "Generation <uuid>" or none at all.
"""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
import uuid
from typing import Any

import pytest
from fastapi import FastAPI
from temporalio.client import Client, WorkflowExecutionStatus
from temporalio.common import SearchAttributePair, TypedSearchAttributes

from core.config import Settings
from core.run_listing import BadFilter, RunRow, execution_status, query, runs, table
from core.starts import search_attributes
from core.temporal import GENERATIONS_QUEUE, LEGACY_STATUS, STATUS
from tests.generation import look_world
from tests.generation.conftest import wait_status
from tests.generation.support import (
    create_generation_row,
    eventually,
    make_sized_shot,
    start_via_api,
)
from tests.helpers import ROOT, Api, UserHandle
from tests.workflows.conftest import record_history
from workflows.generation import GenerationWorkflow
from workflows.types import GenerationInput

DONE = {"completed", "failed", "cancelled"}


async def _sartiq(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    """`sartiq …` in a fresh process (in a thread: the worker shares this event loop)."""
    return await asyncio.to_thread(
        subprocess.run,
        [sys.executable, "-c", "import cli; cli.main()", *args],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


async def _closed(temporal: Client, workflow_id: str) -> Any:
    """The run as visibility lists it, once listed closed (visibility trails the run)."""

    async def listed() -> Any:
        found = [r async for r in temporal.list_workflows(f"WorkflowId = '{workflow_id}'")]
        closed = [r for r in found if r.status != WorkflowExecutionStatus.RUNNING]
        return closed[0] if closed else None

    return await eventually(listed, within=30, what=f"{workflow_id} closed", every=0.2)


async def test_a_failed_generation_reads_failed_with_its_summary(
    api: Api, user: UserHandle, worker: dict[str, Any], temporal: Client
) -> None:
    world = await make_sized_shot(api, user)
    started = await start_via_api(
        api, user, world["org"], world["shot_ids"][0], config={"sim": {"broken_output": "missing"}}
    )
    done = await wait_status(api, user, world["org"], started["id"], DONE, within=30)
    assert done["status"] == "failed"

    run = await _closed(temporal, started["workflow_id"])
    # The workflow completed (it recorded the failure); the domain's status says failed.
    assert run.status == WorkflowExecutionStatus.COMPLETED
    assert run.typed_search_attributes.get(STATUS) == "failed"
    assert run.typed_search_attributes.get(LEGACY_STATUS) is None
    description = await temporal.get_workflow_handle(started["workflow_id"]).describe()
    assert await description.static_summary() == "Generation · Front / look 1 · AW27"
    details = await description.static_details()
    assert details is not None
    assert f"Shooting: AW27 ({world['shooting']['id']})" in details
    assert f"Generation: {started['id']}" in details


async def test_completed_caption_runs_read_completed(
    api: Api, user: UserHandle, worker: dict[str, Any], temporal: Client
) -> None:
    """The runs the issue saw reading "running" for good."""
    products = [
        await look_world.product(
            api, user, f"Top {uuid.uuid4().hex[:6]}", ("cover_image", (200, 10 * i, 40))
        )
        for i in range(3)
    ]
    for product in products:
        workflow_id = f"caption-{product['cover_image_id']}"
        assert await temporal.get_workflow_handle(workflow_id).result() is not None
        run = await _closed(temporal, workflow_id)
        assert run.status == WorkflowExecutionStatus.COMPLETED
        assert run.typed_search_attributes.get(STATUS) == "completed"
        description = await temporal.get_workflow_handle(workflow_id).describe()
        summary = await description.static_summary()
        assert summary == f"Caption · {product['name']}"


async def test_a_cancelled_generation_reads_cancelled(
    api: Api, user: UserHandle, worker: dict[str, Any], temporal: Client
) -> None:
    world = await make_sized_shot(api, user)
    org = world["org"]
    started = await start_via_api(
        api, user, org, world["shot_ids"][0], config={"sim": {"stuck": True}}
    )
    await wait_status(api, user, org, started["id"], {"processing"}, within=30)
    r = await api.post(
        f"/generations/{started['id']}/cancel", as_=user, params={"organization_id": org}
    )
    assert r.status_code == 202, r.text
    await wait_status(api, user, org, started["id"], {"cancelled"}, within=30)
    run = await _closed(temporal, started["workflow_id"])
    assert run.status == WorkflowExecutionStatus.CANCELED
    assert run.typed_search_attributes.get(STATUS) == "cancelled"


async def test_a_run_started_before_the_rename_drops_the_old_attribute(
    api: Api, app: FastAPI, user: UserHandle, worker: dict[str, Any], temporal: Client
) -> None:
    """A run carrying the pre-rename `Status` (as live runs do at the upgrade) ends with
    `SartiqStatus` set and `Status` gone, so no stale "running" stays behind."""
    world = await make_sized_shot(api, user)
    row = await create_generation_row(app, user, world["org"], world["shot_ids"][0])
    attributes = search_attributes(
        organization_id=row["organization_id"],
        entity_id=row["id"],
        entity_type="generation",
        status="pending",
    )
    old_style = [p for p in attributes if p.key.name != STATUS.name]

    handle = await temporal.start_workflow(
        GenerationWorkflow.run,
        GenerationInput(generation_id=row["id"]),
        id=f"generation-{row['id']}",
        task_queue=GENERATIONS_QUEUE,
        search_attributes=TypedSearchAttributes(
            [*old_style, SearchAttributePair(LEGACY_STATUS, "pending")]
        ),
    )
    assert await handle.result() == "completed"
    run = await _closed(temporal, handle.id)
    assert run.typed_search_attributes.get(STATUS) == "completed"
    assert run.typed_search_attributes.get(LEGACY_STATUS) is None
    await record_history(handle, "generation_sartiq_status")


async def test_sartiq_runs_lists_an_organizations_runs_with_summaries(
    api: Api,
    user: UserHandle,
    worker: dict[str, Any],
    temporal: Client,
    settings: Settings,
    stack_env: dict[str, str],
) -> None:
    world = await make_sized_shot(api, user)
    org = world["org"]
    ok = await start_via_api(api, user, org, world["shot_ids"][0])
    await wait_status(api, user, org, ok["id"], {"completed"}, within=30)
    await _closed(temporal, ok["workflow_id"])

    async def listed() -> Any:
        rows = await runs(temporal, settings, organization_id=org, kind="generation")
        return rows if rows and rows[0].status == "completed" else None

    (row,) = await eventually(listed, within=30, what="the org's runs", every=0.3)
    assert row.summary == "Generation · Front / look 1 · AW27"
    assert row.link and row.link.endswith(f"/workflows/{ok['workflow_id']}")
    assert await runs(temporal, settings, organization_id=str(uuid.uuid4())) == []

    # The command itself, as an operator runs it (a fresh process, the stack's settings).
    env = {**os.environ, **stack_env, "SARTIQ_STATE_DIR": str(ROOT / ".no-such-state")}
    out = await _sartiq(env, "runs", "--org", org, "--status", "completed")
    assert out.returncode == 0, out.stderr
    assert "Generation · Front / look 1 · AW27" in out.stdout, out.stdout
    assert ok["workflow_id"] in out.stdout
    bad = await _sartiq(env, "runs", "--status", "x' OR 1=1")
    assert bad.returncode == 2 and "--status" in bad.stderr


@pytest.mark.parametrize(
    ("filters", "field"),
    [
        ({"organization_id": "' OR 1=1 --"}, "--org"),
        ({"status": "completed' OR EntityType = 'export"}, "--status"),
        ({"kind": "generation OR 1=1"}, "--type"),
    ],
)
def test_filters_never_reach_the_query_unchecked(filters: dict[str, str], field: str) -> None:
    with pytest.raises(BadFilter, match=field):
        query(**filters)


def test_the_table_marks_only_statuses_that_differ() -> None:
    """A generation that ended failed in a completed workflow is marked; a cancelled one in a
    CANCELED workflow is not (one status, two spellings)."""

    def row(status: str, execution: str) -> RunRow:
        return RunRow("w", "r", "generation", status, execution, None, "Generation · x", None, None)

    cancelled = execution_status(WorkflowExecutionStatus.CANCELED)
    lines = table([row("failed", "completed"), row("cancelled", cancelled)])
    assert lines[1].startswith("failed*") and lines[2].startswith("cancelled ")


def test_the_query_of_known_filters() -> None:
    org = str(uuid.uuid4())
    assert query(organization_id=org, status="failed", kind="export") == (
        f"OrganizationId = '{org}' AND (SartiqStatus = 'failed' OR `Status` = 'failed')"
        " AND EntityType = 'export'"
    )
    assert json.dumps(query()) == '""'
