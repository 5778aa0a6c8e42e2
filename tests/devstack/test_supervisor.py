"""The `sartiq dev` supervisor: a child that dies is reported and back within seconds."""

from __future__ import annotations

import os
import signal
import sys
import threading
import time
from pathlib import Path

from devstack.supervisor import Supervisor


def test_killed_child_is_restarted_within_five_seconds(tmp_path: Path) -> None:
    lines: list[str] = []
    supervisor = Supervisor(echo=lines.append)
    child = supervisor.add(
        "worker",
        [sys.executable, "-c", "import time; print('up', flush=True); time.sleep(60)"],
        env=dict(os.environ),
        cwd=tmp_path,
    )
    supervisor.start_all()
    runner = threading.Thread(target=supervisor.run_forever, kwargs={"poll_seconds": 0.1})
    runner.start()
    try:
        assert child.popen is not None
        first = child.popen.pid
        os.kill(first, signal.SIGKILL)
        killed = time.monotonic()
        while time.monotonic() - killed < 5:
            if child.popen.pid != first and child.popen.poll() is None:
                break
            time.sleep(0.05)
        back_after = time.monotonic() - killed
        assert child.popen.pid != first and child.popen.poll() is None
        assert back_after < 5
        assert child.restarts == 1
        assert any("exited with code -9; restarting" in line for line in lines)
    finally:
        supervisor.stop_all(timeout=3)
        runner.join(timeout=5)
    assert child.popen.poll() is not None  # stopped, nothing left behind
