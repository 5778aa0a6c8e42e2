"""Runs the app's own processes (API, worker, …) for `sartiq dev`: prefixed logs,
restart of a child that dies, and a bounded stop of every child's process group."""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

COLORS = ("36", "35", "33", "32", "34", "31")
RESTART_DELAY_SECONDS = 1.0


@dataclass
class Child:
    name: str
    argv: Sequence[str]
    env: Mapping[str, str]
    cwd: Path
    color: str
    popen: subprocess.Popen[bytes] | None = None
    restarts: int = 0
    started_at: float = 0.0
    pump: threading.Thread | None = field(default=None, repr=False)


class Supervisor:
    """Starts children in their own sessions so Ctrl-C reaches only us; we stop them."""

    def __init__(self, *, echo: Callable[[str], None] | None = None) -> None:
        self.children: list[Child] = []
        self._echo = echo or (lambda line: print(line, flush=True))
        self._width = 8
        self._stopping = threading.Event()
        self._print_lock = threading.Lock()

    def add(self, name: str, argv: Sequence[str], *, env: Mapping[str, str], cwd: Path) -> Child:
        child = Child(name, list(argv), dict(env), cwd, COLORS[len(self.children) % len(COLORS)])
        self.children.append(child)
        self._width = max(self._width, len(name))
        return child

    def say(self, name: str, line: str, color: str = "37") -> None:
        tty = sys.stdout.isatty()
        label = name.ljust(self._width)
        prefix = f"\033[{color}m{label}\033[0m |" if tty else f"{label} |"
        with self._print_lock:
            self._echo(f"{prefix} {line}")

    def _pump_output(self, child: Child) -> None:
        assert child.popen is not None and child.popen.stdout is not None
        for raw in iter(child.popen.stdout.readline, b""):
            self.say(child.name, raw.decode(errors="replace").rstrip(), child.color)

    def start(self, child: Child) -> None:
        child.popen = subprocess.Popen(
            child.argv,
            env=dict(child.env),
            cwd=child.cwd,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            start_new_session=True,
            preexec_fn=die_with_parent,
        )
        child.started_at = time.monotonic()
        child.pump = threading.Thread(target=self._pump_output, args=(child,), daemon=True)
        child.pump.start()

    def start_all(self) -> None:
        for child in self.children:
            self.start(child)

    def check(self) -> None:
        """Restart any child that exited while we are not stopping."""
        for child in self.children:
            if self._stopping.is_set() or child.popen is None:
                continue
            code = child.popen.poll()
            if code is None:
                continue
            if child.pump is not None:
                child.pump.join(timeout=1)
            child.restarts += 1
            self.say(child.name, f"exited with code {code}; restarting (#{child.restarts})", "31")
            time.sleep(RESTART_DELAY_SECONDS)
            self.start(child)

    def run_forever(self, poll_seconds: float = 0.5) -> None:
        while not self._stopping.is_set():
            self.check()
            self._stopping.wait(poll_seconds)

    def stop_all(self, timeout: float = 6.0) -> None:
        """SIGTERM every child's process group, then SIGKILL what is left after `timeout`."""
        self._stopping.set()
        alive = [c for c in self.children if c.popen is not None and c.popen.poll() is None]
        for child in alive:
            _signal_group(child, signal.SIGTERM)
        deadline = time.monotonic() + timeout
        for child in alive:
            assert child.popen is not None
            try:
                child.popen.wait(timeout=max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                self.say(child.name, "did not stop in time; killing", "31")
        for child in self.children:
            # Also reaps grandchildren left in the group after the leader exited.
            _signal_group(child, signal.SIGKILL)
            if child.popen is not None:
                with contextlib.suppress(subprocess.TimeoutExpired):
                    child.popen.wait(timeout=2)


def die_with_parent() -> None:
    """Linux: the child gets SIGTERM if the supervisor dies without cleaning up (SIGKILL),
    so an app process never outlives `sartiq dev`."""
    if sys.platform != "linux":
        return
    import ctypes

    pr_set_pdeathsig = 1
    with contextlib.suppress(OSError, AttributeError):
        ctypes.CDLL("libc.so.6", use_errno=True).prctl(pr_set_pdeathsig, signal.SIGTERM)


def _signal_group(child: Child, sig: signal.Signals) -> None:
    if child.popen is None:
        return
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(child.popen.pid, sig)
