"""ENVIRONMENT defaults to production: a process nobody configured refuses the development
secrets, and every process we start for development or tests says what it is."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from pydantic import ValidationError

from core.config import Settings
from tests.helpers import ROOT, WorkerProcess

SECRETS = (
    "JWT_SECRET",
    "COMPUTE_SERVER_ADMIN_TOKEN",
    "COMPUTE_WEBHOOK_SECRET",
    "FIRST_SUPERUSER_PASSWORD",
    "R2_SECRET_ACCESS_KEY",
)


@pytest.fixture
def unconfigured(monkeypatch: pytest.MonkeyPatch) -> dict[str, str]:
    """This process's environment without ENVIRONMENT or any secret (as a fresh shell)."""
    for name in ("ENVIRONMENT", *SECRETS):
        monkeypatch.delenv(name, raising=False)
    return dict(os.environ)


def test_unset_environment_means_production_and_refuses_default_secrets(
    unconfigured: dict[str, str],
) -> None:
    assert Settings.model_fields["ENVIRONMENT"].default == "production"
    with pytest.raises(ValidationError) as refused:
        Settings(_env_file=None)
    message = str(refused.value)
    assert "JWT_SECRET" in message
    assert "ENVIRONMENT=development" in message, "the error says how to work locally"
    settings = Settings(
        _env_file=None, **{name: f"{name.lower()}-real-value-0123456789" for name in SECRETS}
    )
    assert settings.ENVIRONMENT == "production" and not settings.is_development


def test_a_process_started_without_environment_refuses_to_start(
    unconfigured: dict[str, str], tmp_path: Path
) -> None:
    # What `python worker.py` or `python -m compute_sim` does first, in a clean process.
    result = subprocess.run(
        [sys.executable, "-c", "from core.config import get_settings; get_settings()"],
        cwd=tmp_path,  # no .env file to read
        env={**unconfigured, "PYTHONPATH": str(ROOT)},
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode != 0
    assert "JWT_SECRET has its development default" in result.stderr


def test_the_test_worker_process_says_it_runs_as_test(
    settings: Settings, unconfigured: dict[str, str], tmp_path: Path
) -> None:
    worker = WorkerProcess(settings, "env-check-", tmp_path / "worker.log")
    assert worker.env["ENVIRONMENT"] == settings.ENVIRONMENT == "test"
