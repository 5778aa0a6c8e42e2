"""Process groups: liveness, signalling a whole group, reaping what a leader left behind,
and killing what a crashed earlier run recorded in its pid file."""

from __future__ import annotations

import contextlib
import json
import os
import signal
import time
from collections.abc import Callable
from pathlib import Path

import psutil

DEFAULT_STOP_TIMEOUT = 5.0


def is_alive(proc: psutil.Process) -> bool:
    """Running and not a zombie (an orphan's zombie lingers until init reaps it)."""
    try:
        return proc.is_running() and proc.status() != psutil.STATUS_ZOMBIE
    except psutil.Error:
        return False


def group_members(pgid: int) -> list[psutil.Process]:
    """Live (non-zombie) processes in process group ``pgid``."""
    members = []
    for proc in psutil.process_iter():
        try:
            if os.getpgid(proc.pid) == pgid and is_alive(proc):
                members.append(proc)
        except (ProcessLookupError, psutil.Error):
            continue
    return members


def kill_group(pgid: int, sig: int = signal.SIGKILL) -> None:
    """Send ``sig`` to process group ``pgid``; a group that is already gone is fine."""
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(pgid, sig)


def terminate_group(
    leader: psutil.Process,
    *,
    sig: int = signal.SIGTERM,
    whole_group: bool = True,
    timeout: float = DEFAULT_STOP_TIMEOUT,
) -> None:
    """Stop a group led by ``leader`` (not our child): ``sig``, wait, then SIGKILL all."""
    pgid = leader.pid
    if whole_group:
        kill_group(pgid, sig)
    else:
        with contextlib.suppress(psutil.Error):
            leader.send_signal(sig)
    deadline = time.monotonic() + timeout
    while is_alive(leader) and time.monotonic() < deadline:
        time.sleep(0.05)
    kill_group(pgid)
    reap_group(pgid, timeout=2.0)


def reap_group(pgid: int, timeout: float) -> None:
    """SIGKILL whatever is still in the group and wait (bounded) until it is empty."""
    deadline = time.monotonic() + timeout
    while True:
        members = group_members(pgid)
        if not members:
            return
        for proc in members:
            with contextlib.suppress(psutil.Error):
                proc.kill()
        _, alive = psutil.wait_procs(members, timeout=max(0.0, deadline - time.monotonic()))
        if not alive or time.monotonic() >= deadline:
            return


def kill_stale(pid_path: Path, marker: str, log: Callable[[str], None] | None = None) -> bool:
    """Stop the process recorded in ``pid_path`` by a previous (crashed) run, if still alive.

    Only a process that is provably the recorded one is touched: same pid AND same start
    time, or same pid and a command line mentioning ``marker`` (the state directory). A
    recycled pid belonging to something else is left alone. Returns True if one was killed.
    """
    try:
        record = json.loads(pid_path.read_text())
        pid = int(record["pid"])
        created = float(record["create_time"])
    except (OSError, ValueError, KeyError, TypeError):
        return False
    killed = False
    if pid == os.getpid():
        pass  # a recycled pid that is now us: nothing of the old run is left under it
    elif psutil.pid_exists(pid):
        try:
            proc = psutil.Process(pid)
            # What we start always leads its own process group; a recycled pid rarely does.
            ours = os.getpgid(pid) == pid and (
                abs(proc.create_time() - created) < 0.05
                or any(marker in arg for arg in proc.cmdline())
            )
            if ours:
                if log:
                    log(f"killing stale {record.get('name', 'process')} (pid {pid})")
                terminate_group(
                    proc,
                    sig=int(record.get("stop_signal", signal.SIGTERM)),
                    whole_group=bool(record.get("signal_group", True)),
                )
                killed = True
        except (psutil.Error, ProcessLookupError):
            pass
    else:
        # The leader is gone; members of its group (a crashed postgres's backends) may not be.
        leftovers = []
        for member in group_members(pid):
            with contextlib.suppress(psutil.Error):
                if member.create_time() >= created - 0.05:
                    leftovers.append(member)
        for member in leftovers:
            with contextlib.suppress(psutil.Error):
                member.kill()
        if leftovers:
            psutil.wait_procs(leftovers, timeout=2.0)
            killed = True
    with contextlib.suppress(OSError):
        pid_path.unlink()
    return killed
