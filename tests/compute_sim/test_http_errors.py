"""The `http_error_rate` knob: task requests answered 500/502/503 before anything is done."""

from __future__ import annotations

import httpx
import pytest

from compute_sim import ComputeSimServer
from compute_sim.store import SimTask
from core.compute import ComputeClient, ComputeError
from core.config import Settings
from tests.compute_sim.support import key, new_task, wait_finished


def _tasks_of(server: ComputeSimServer, entity_id: str) -> list[SimTask]:
    return [t for t in server.app.state.sim.store.all() if t.entity_id == entity_id]


async def test_http_error_rate_one_refuses_every_task_request_and_creates_nothing(
    knobs: ComputeSimServer, compute: ComputeClient, sim_settings: Settings
) -> None:
    ref = await compute.create_task(new_task(), idempotency_key=key())
    await wait_finished(compute, ref.id)
    knobs.set_config(http_error_rate=1.0)
    injected_before = knobs.app.state.sim.injected_errors
    task = new_task()

    calls = {
        "submit": lambda: compute.create_task(task, idempotency_key=key()),
        "status": lambda: compute.get_task(ref.id),
        "result": lambda: compute.get_result(ref.id),
        "cancel": lambda: compute.cancel_task(ref.id),
    }
    codes = {}
    for name, call in calls.items():
        with pytest.raises(ComputeError) as raised:
            await call()
        assert raised.value.retryable, name
        codes[name] = raised.value.status_code

    assert set(codes.values()) <= {500, 502, 503}, codes
    assert knobs.app.state.sim.injected_errors - injected_before == 4
    assert _tasks_of(knobs, task.entity_id) == []  # the refused submit did nothing
    # The knob endpoints and /health stay reachable, so the fault can be switched off.
    auth = {"Authorization": f"Bearer {sim_settings.COMPUTE_SERVER_ADMIN_TOKEN}"}
    async with httpx.AsyncClient(base_url=str(knobs.url)) as http:
        assert (await http.get("/health")).status_code == 200
        assert (await http.get("/api/v1/sim/config", headers=auth)).status_code == 200
        off = await http.put("/api/v1/sim/config", json={"http_error_rate": 0}, headers=auth)
    assert off.status_code == 200
    assert (await compute.get_result(ref.id)).status == "completed"


async def test_http_error_rate_fails_a_fraction_and_retries_create_one_task(
    knobs: ComputeSimServer, compute: ComputeClient
) -> None:
    knobs.set_config(http_error_rate=0.5)
    task = new_task()
    idempotency_key = key()

    outcomes = []
    ref = None
    for _ in range(80):
        try:
            ref = await compute.create_task(task, idempotency_key=idempotency_key)
            outcomes.append(True)
        except ComputeError as error:
            assert error.status_code in (500, 502, 503), error
            outcomes.append(False)

    # 80 draws at 0.5: fewer than 20 of either kind has a probability below 1e-5.
    assert 20 <= outcomes.count(False) <= 60, outcomes.count(False)
    assert ref is not None
    # Every accepted retry named the same task: the failures never half-created one.
    assert [t.id for t in _tasks_of(knobs, task.entity_id)] == [ref.id]


def test_http_error_rate_is_validated_as_a_rate(knobs: ComputeSimServer) -> None:
    with pytest.raises(ValueError):
        knobs.set_config(http_error_rate=1.5)
    assert knobs.config.http_error_rate == 0.0
