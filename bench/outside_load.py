"""How much of the machine's runnable work is not the bench's own.

The 1-minute load average counts every runnable task, the run's own included: on 2 cores a
figure that puts 50 generations through the API, the worker, compute_sim and the embedded
services is above the core count by itself, so "load above the cores" alone flags every
figure and tells nothing. What makes a figure incomparable is work from outside the run
competing for the cores. Each sample counts the runnable tasks of the whole machine
(`procs_running` of /proc/stat) and those of the bench's process tree (threads in state R
under the bench's pid: the app processes and the embedded services are its descendants);
the difference is the outside's share. Linux only; elsewhere both counts are 0.
"""

from __future__ import annotations

import os
from pathlib import Path

PROC = Path("/proc")


def _machine_running() -> int:
    try:
        for line in (PROC / "stat").read_text().splitlines():
            if line.startswith("procs_running "):
                return int(line.split()[1])
    except OSError:
        pass
    return 0


def _stat_fields(path: Path) -> list[str] | None:
    """The fields after `(comm)` of a stat file (comm may hold spaces and parentheses)."""
    try:
        text = path.read_text()
    except OSError:  # the task ended meanwhile
        return None
    return text[text.rfind(")") + 2 :].split()


def _tree(root: int) -> set[int]:
    """`root` and its descendants, from the parent pid of every process."""
    children: dict[int, list[int]] = {}
    for entry in PROC.iterdir():
        if not entry.name.isdigit():
            continue
        fields = _stat_fields(entry / "stat")
        if fields is not None:
            children.setdefault(int(fields[1]), []).append(int(entry.name))
    tree, todo = set(), [root]
    while todo:
        pid = todo.pop()
        if pid not in tree:
            tree.add(pid)
            todo.extend(children.get(pid, ()))
    return tree


def _running_threads(pid: int) -> int:
    try:
        tasks = list((PROC / str(pid) / "task").iterdir())
    except OSError:
        return 0
    count = 0
    for task in tasks:
        fields = _stat_fields(task / "stat")
        count += fields is not None and fields[0] == "R"
    return count


def runnable(root: int | None = None) -> tuple[int, int]:
    """(runnable tasks on the machine, runnable tasks of `root`'s process tree)."""
    if not (PROC / "stat").exists():
        return 0, 0
    own = sum(_running_threads(pid) for pid in _tree(root or os.getpid()))
    return _machine_running(), own


def outside(root: int | None = None) -> int:
    """Runnable tasks right now that are not the run's (at least 0: the two counts are read
    a moment apart)."""
    machine, own = runnable(root)
    return max(0, machine - own)
