"""`sartiq bench` stopped by SIGTERM (a CI timeout, `timeout 1200 ...`) tears down like
Ctrl-C: once its embedded services and app processes are up, a SIGTERM to the bench leaves
not one process of that run behind."""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import psutil
import pytest

from devstack.process_groups import is_alive
from devstack.registry import REPLACED_BY

ROOT = Path(__file__).resolve().parent.parent.parent
# The bench logs this once its API, worker and bare worker serve (bench/stack.py).
READY = "worker and bare worker on"
# postgres, redis, SeaweedFS, Temporal, compute_sim, api, worker, bare worker at least.
AT_LEAST = 8


def _mentions(proc: psutil.Process, marker: str) -> bool:
    """Whether the process's command line or environment names `marker` (the run's
    TMPDIR: every service keeps its state under it, every app process inherits it)."""
    try:
        if any(marker in part for part in proc.cmdline()):
            return True
        return any(marker in value for value in proc.environ().values())
    except psutil.Error:
        return False


def _of_the_run(marker: str, known: dict[int, float]) -> list[psutil.Process]:
    """Live processes of the run: a pid collected while it ran (same start time, so not a
    recycled pid), or any process naming the run's TMPDIR."""
    found = {}
    for proc in psutil.process_iter():
        if proc.pid == os.getpid() or not is_alive(proc):
            continue
        try:
            created = proc.create_time()
        except psutil.Error:
            continue
        if abs(known.get(proc.pid, -1.0) - created) < 0.05 or _mentions(proc, marker):
            found[proc.pid] = proc
    return list(found.values())


def _wait_ready(log: Path, bench: subprocess.Popen[bytes], within: float) -> None:
    deadline = time.monotonic() + within
    while time.monotonic() < deadline:
        if bench.poll() is not None:
            raise AssertionError(f"bench exited with {bench.returncode}:\n{log.read_text()}")
        if READY in log.read_text(errors="replace"):
            return
        time.sleep(0.5)
    raise AssertionError(f"bench not up after {within:.0f}s:\n{log.read_text()}")


@pytest.mark.timeout(280)
def test_sigterm_leaves_no_process_of_the_run(tmp_path: Path) -> None:
    # Embedded services, as in CI: no service of the test session is handed over.
    given = {*REPLACED_BY.values()}
    env = {
        k: v
        for k, v in os.environ.items()
        if k not in given and not k.startswith(("R2_", "TEMPORAL_"))
    }
    # Outside pytest's basetemp (reset to 0700 by the next session: see tests/conftest.py).
    marker = tempfile.mkdtemp(prefix="sartiq-sigterm-")
    env["TMPDIR"] = marker
    log = tmp_path / "bench.log"
    argv = [sys.executable, str(ROOT / "cli.py"), "bench", "--quick", "--only", "P6"]
    argv += ["--json", str(tmp_path / "b.json"), "--markdown", str(tmp_path / "b.md")]
    with log.open("wb") as out:
        # Its own session: the SIGTERM below goes to the bench alone, as a CI runner's
        # timeout sends it to the command it started.
        bench = subprocess.Popen(
            argv, cwd=ROOT, env=env, stdout=out, stderr=out, start_new_session=True
        )
    known: dict[int, float] = {}
    try:
        _wait_ready(log, bench, within=200)
        for child in psutil.Process(bench.pid).children(recursive=True):
            with contextlib.suppress(psutil.Error):
                known[child.pid] = child.create_time()
        assert len(known) >= AT_LEAST, f"only {len(known)} processes under the bench"
        bench.send_signal(signal.SIGTERM)
        code = bench.wait(timeout=60)
        # Teardown is synchronous: whatever is alive now was left behind.
        time.sleep(1.0)
        left = _of_the_run(marker, known)
        described = [f"{p.pid} {' '.join(p.cmdline())[:120]}" for p in left if p.is_running()]
        assert not left, "left behind:\n" + "\n".join(described) + "\n" + log.read_text()[-3000:]
        assert code == 128 + signal.SIGTERM, log.read_text()[-3000:]
        assert "stopped by SIGTERM" in log.read_text()
    finally:
        # Whatever the outcome, nothing of this run may outlive the test on a shared machine.
        if bench.poll() is None:
            bench.kill()
            bench.wait()
        for proc in _of_the_run(marker, known):
            with contextlib.suppress(psutil.Error):
                proc.kill()
        shutil.rmtree(marker, ignore_errors=True)
