"""`sartiq dev` as a user runs it: healthy, joinable with `sartiq env`, and Ctrl-C leaves
no process behind."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import httpx
import psutil

from devstack.ports import free_port
from devstack.process import ManagedProcess

ROOT = Path(__file__).resolve().parent.parent
SERVICE_VARS = ("DATABASE_URL", "REDIS_URL", "R2_ENDPOINT_URL", "TEMPORAL_ADDRESS", "SMTP_HOST")
# The system health check answers only to a superuser or to this token.
PROBE_TOKEN = "cli-test-metrics-token-0123456789"


def _processes_mentioning(text: str) -> list[psutil.Process]:
    found = []
    for proc in psutil.process_iter(["cmdline"]):
        if any(text in part for part in proc.info["cmdline"] or []):
            found.append(proc)
    return found


def test_dev_starts_healthy_and_ctrl_c_stops_everything(tmp_path: Path) -> None:
    state = tmp_path / "state"
    port = free_port()
    env = {k: v for k, v in os.environ.items() if k not in SERVICE_VARS}
    env["ENVIRONMENT"] = "development"
    env["METRICS_TOKEN"] = PROBE_TOKEN
    proc = ManagedProcess(
        "sartiq dev",
        [
            sys.executable,
            str(ROOT / "cli.py"),
            "dev",
            "--state-dir",
            str(state),
            "--port",
            str(port),
        ],
        cwd=ROOT,
        env=env,
        log_path=tmp_path / "dev.log",
    )
    proc.start()
    try:
        deadline = time.monotonic() + 90
        healthy = False
        while time.monotonic() < deadline and proc.poll() is None:
            try:
                r = httpx.get(f"http://127.0.0.1:{port}/api/v1/utils/health-check/", timeout=1)
                healthy = r.status_code == 200
            except httpx.HTTPError:
                pass
            if healthy:
                break
            time.sleep(0.2)
        assert healthy, "sartiq dev never answered its health check"

        # every dependency, compute_sim included, reports ok (the simulator may start last)
        checks: dict[str, str] = {}
        until = time.monotonic() + 30
        while time.monotonic() < until:
            system = httpx.get(
                f"http://127.0.0.1:{port}/api/v1/utils/system-health-check",
                headers={"Authorization": f"Bearer {PROBE_TOKEN}"},
                timeout=10,
            ).json()
            checks = {c["name"]: c["status"] for c in system["checks"]}
            if set(checks.values()) == {"ok"}:
                break
            time.sleep(0.5)
        assert set(checks.values()) == {"ok"}, checks

        printed = subprocess.run(
            [sys.executable, str(ROOT / "cli.py"), "env", "--state-dir", str(state)],
            cwd=ROOT,
            env=env,
            capture_output=True,
            text=True,
            timeout=30,
            check=True,
        ).stdout
        assert f"export API_URL=http://127.0.0.1:{port}" in printed
        assert "export DATABASE_URL=" in printed
        # joined with `eval "$(sartiq env)"`, the CLI's own commands run as development
        assert "export ENVIRONMENT=development" in printed

        # the API's mail goes through the stack's SMTP server; `sartiq mail` lists it
        r = httpx.post(f"http://127.0.0.1:{port}/api/v1/password-recovery/admin@example.com")
        assert r.status_code == 200, r.text
        listed = ""
        until = time.monotonic() + 30
        while "password recovery" not in listed and time.monotonic() < until:
            time.sleep(0.3)
            listed = subprocess.run(
                [sys.executable, str(ROOT / "cli.py"), "mail", "--state-dir", str(state)],
                cwd=ROOT,
                env=env,
                capture_output=True,
                text=True,
                timeout=30,
            ).stdout
        assert "admin@example.com" in listed and "password recovery" in listed, listed
    finally:
        proc.send_signal(signal.SIGINT)  # Ctrl-C reaches the terminal's process group
        code = proc.wait(timeout=30)
        output = proc.log_tail(60)
        if code is None:
            proc.stop()  # it did not stop by itself: fail, but leave nothing behind
    assert code == 0, output
    time.sleep(0.5)
    assert _processes_mentioning(str(state)) == [], output[-2000:]
