"""Server-wide knobs: env, the /api/v1/sim/config endpoints, the standalone entry point."""

from __future__ import annotations

import subprocess
import sys

import httpx
import pytest

from compute_sim import ComputeSimServer, SimConfig
from core.config import Settings


def test_sim_config_reads_env(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("COMPUTE_SIM_FAILURE_RATE", "0.25")
    monkeypatch.setenv("COMPUTE_SIM_REORDER_EVENTS", "true")
    monkeypatch.setenv("COMPUTE_SIM_WEBHOOK_URL", "http://127.0.0.1:8000/api/v1/tasks/webhook")

    config = SimConfig()

    assert (config.failure_rate, config.reorder_events) == (0.25, True)
    assert config.webhook_url == "http://127.0.0.1:8000/api/v1/tasks/webhook"


async def test_put_sim_config_changes_knobs(
    knobs: ComputeSimServer, sim_settings: Settings
) -> None:
    auth = {"Authorization": f"Bearer {sim_settings.COMPUTE_SERVER_ADMIN_TOKEN}"}
    async with httpx.AsyncClient(base_url=str(knobs.url)) as http:
        anonymous = await http.put("/api/v1/sim/config", json={"failure_rate": 0.5})
        unknown = await http.put("/api/v1/sim/config", json={"nope": 1}, headers=auth)
        invalid = await http.put("/api/v1/sim/config", json={"failure_rate": 2}, headers=auth)
        changed = await http.put(
            "/api/v1/sim/config", json={"failure_rate": 0.5, "latency_ms": 10}, headers=auth
        )
        read = await http.get("/api/v1/sim/config", headers=auth)

    assert anonymous.status_code == 401
    assert (unknown.status_code, invalid.status_code) == (422, 422)
    assert changed.status_code == 200
    assert read.json()["failure_rate"] == 0.5
    assert read.json()["latency_ms"] == 10
    assert read.json()["progress_steps"] == 3  # untouched knobs keep their value
    assert knobs.config.failure_rate == 0.5


def test_main_help_runs() -> None:
    result = subprocess.run(
        [sys.executable, "-m", "compute_sim", "--help"],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )

    assert result.returncode == 0, result.stderr
    assert "--port" in result.stdout
