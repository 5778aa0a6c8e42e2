"""Runs the app's own processes (API, worker, …) for `sartiq dev`: prefixed logs,
restart of a child that dies, and a bounded stop of every child's process group."""

from __future__ import annotations

import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from devstack.process import ManagedProcess

COLORS = ("36", "35", "33", "32", "34", "31")
RESTART_DELAY_SECONDS = 1.0


@dataclass
class Child:
    name: str
    process: ManagedProcess
    color: str
    restarts: int = 0
    started_at: float = 0.0

    @property
    def popen(self) -> subprocess.Popen[bytes] | None:
        return self.process.popen


class Supervisor:
    """Starts children in their own sessions so Ctrl-C reaches only us; we stop them."""

    def __init__(self, *, echo: Callable[[str], None] | None = None) -> None:
        self.children: list[Child] = []
        self._echo = echo or (lambda line: print(line, flush=True))
        self._width = 8
        self._stopping = threading.Event()
        self._print_lock = threading.Lock()

    def add(self, name: str, argv: Sequence[str], *, env: Mapping[str, str], cwd: Path) -> Child:
        color = COLORS[len(self.children) % len(COLORS)]
        process = ManagedProcess(
            name,
            argv,
            env=env,
            cwd=cwd,
            on_output=lambda line: self.say(name, line, color),
            # An app process never outlives `sartiq dev`, even one SIGKILLed.
            die_with_parent=True,
        )
        child = Child(name, process, color)
        self.children.append(child)
        self._width = max(self._width, len(name))
        return child

    def say(self, name: str, line: str, color: str = "37") -> None:
        tty = sys.stdout.isatty()
        label = name.ljust(self._width)
        prefix = f"\033[{color}m{label}\033[0m |" if tty else f"{label} |"
        with self._print_lock:
            self._echo(f"{prefix} {line}")

    def start(self, child: Child) -> None:
        child.process.start()
        child.started_at = time.monotonic()

    def start_all(self) -> None:
        for child in self.children:
            self.start(child)

    def check(self) -> None:
        """Restart any child that exited while we are not stopping."""
        for child in self.children:
            if self._stopping.is_set() or child.popen is None:
                continue
            code = child.process.poll()
            if code is None:
                continue
            child.process.wait_output()  # its last words before the restart notice
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
        alive = [c for c in self.children if c.process.running]
        # All at once, then one shared deadline: the children stop in parallel.
        for child in alive:
            child.process.send_signal(signal.SIGTERM)
        deadline = time.monotonic() + timeout
        for child in alive:
            if child.process.wait(max(0.1, deadline - time.monotonic())) is None:
                self.say(child.name, "did not stop in time; killing", "31")
        for child in self.children:
            # Also reaps grandchildren left in the group after the leader exited.
            child.process.kill()
