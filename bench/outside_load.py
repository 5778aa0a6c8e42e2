"""How much of the machine's CPU went to work that is not the bench's own.

The 1-minute load average counts every runnable task, the run's own included: on 2 cores a
figure that puts 50 generations through the API, the worker, compute_sim and the embedded
services is above the core count by itself, so "load above the cores" alone flags every
figure and tells nothing. What makes a figure incomparable is work from outside the run
competing for the cores.

Measured as CPU time, not as runnable tasks (counting threads in state R missed the
short-lived threads of the password hasher, which then read as outside work): between two
samples, the machine's busy time (/proc/stat) minus the CPU time of the bench's process tree
(utime + stime of every process under the bench's pid, with the times of its reaped
children, so a process that ended between two samples still counts as the run's). The app
processes and the embedded services are all descendants of the bench. Linux only;
elsewhere the figure is 0.
"""

from __future__ import annotations

import os
import time
from pathlib import Path

PROC = Path("/proc")
TICKS = os.sysconf("SC_CLK_TCK") if hasattr(os, "sysconf") else 100


def _machine_busy() -> int:
    """Busy ticks of all CPUs since boot: user, nice, system, irq, softirq, steal."""
    fields = (PROC / "stat").read_text().split("\n", 1)[0].split()[1:]
    user, nice, system, _idle, _iowait, irq, softirq, steal = (int(x) for x in fields[:8])
    return user + nice + system + irq + softirq + steal


def _stat_fields(path: Path) -> list[str] | None:
    """The fields after `(comm)` of a stat file (comm may hold spaces and parentheses)."""
    try:
        text = path.read_text()
    except OSError:  # the process ended meanwhile
        return None
    return text[text.rfind(")") + 2 :].split()


def _tree_ticks(root: int) -> int:
    """CPU ticks of `root` and its descendants (threads included, reaped children too)."""
    parents: dict[int, int] = {}
    ticks: dict[int, int] = {}
    for entry in PROC.iterdir():
        if not entry.name.isdigit():
            continue
        fields = _stat_fields(entry / "stat")
        if fields is None:
            continue
        pid = int(entry.name)
        parents[pid] = int(fields[1])
        # utime, stime, cutime, cstime: fields 14-17 of stat, 11-14 after the comm.
        ticks[pid] = sum(int(x) for x in fields[11:15])
    children: dict[int, list[int]] = {}
    for pid, parent in parents.items():
        children.setdefault(parent, []).append(pid)
    total, todo, seen = 0, [root], set()
    while todo:
        pid = todo.pop()
        if pid in seen:
            continue
        seen.add(pid)
        total += ticks.get(pid, 0)
        todo.extend(children.get(pid, ()))
    return total


class OutsideMeter:
    """Cores' worth of CPU used outside the run since the previous `sample()`."""

    def __init__(self, root: int | None = None) -> None:
        self.root = root or os.getpid()
        self.enabled = (PROC / "stat").exists()
        self._last: tuple[float, int, int] | None = None

    def sample(self) -> float:
        if not self.enabled:
            return 0.0
        now, machine, own = time.monotonic(), _machine_busy(), _tree_ticks(self.root)
        last, self._last = self._last, (now, machine, own)
        if last is None or now <= last[0]:
            return 0.0
        outside = (machine - last[1]) - (own - last[2])
        return max(0.0, outside / TICKS / (now - last[0]))
