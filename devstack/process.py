"""A child process of the stack: log file, pid file, health wait and whole-group stop."""

from __future__ import annotations

import contextlib
import json
import os
import shlex
import signal
import subprocess
import time
from collections.abc import Callable, Mapping, Sequence
from datetime import datetime
from pathlib import Path
from typing import IO, Any

import psutil

from devstack.errors import DevstackError

LOG_TAIL_LINES = 30
DEFAULT_STOP_TIMEOUT = 5.0
# Variables a child may inherit from us. Everything else is dropped so that settings meant
# for the app (PGPORT, S3_BUCKET, AWS_*, TEMPORAL_* ...) cannot silently reconfigure a
# server: each service adds exactly what it needs on top.
_INHERITED_ENV = ("PATH", "LANG", "LC_ALL", "LC_CTYPE", "TZ", "TMPDIR", "HOME", "USER")


def base_env(extra: Mapping[str, str] | None = None) -> dict[str, str]:
    """A minimal environment for a server process, plus ``extra``."""
    env = {key: os.environ[key] for key in _INHERITED_ENV if key in os.environ}
    env.setdefault("PATH", "/usr/local/bin:/usr/bin:/bin")
    env.update(extra or {})
    return env


def read_log_tail(path: Path, lines: int = LOG_TAIL_LINES, offset: int = 0) -> str:
    """The last ``lines`` lines of ``path`` written after byte ``offset``."""
    try:
        with path.open("rb") as fh:
            fh.seek(0, os.SEEK_END)
            size = fh.tell()
            # Logs can be large (a dev stack runs for days): read only the end of the file.
            start = max(offset, size - 64 * 1024)
            fh.seek(start)
            data = fh.read()
    except OSError as exc:
        return f"(log {path} unreadable: {exc})"
    text = data.decode("utf-8", errors="replace")
    return "\n".join(text.splitlines()[-lines:])


def is_alive(proc: psutil.Process) -> bool:
    """Running and not a zombie (an orphan's zombie lingers until init reaps it)."""
    try:
        return proc.is_running() and proc.status() != psutil.STATUS_ZOMBIE
    except psutil.Error:
        return False


def _group_members(pgid: int) -> list[psutil.Process]:
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
    _reap_group(pgid, timeout=2.0)


def _reap_group(pgid: int, timeout: float) -> None:
    """SIGKILL whatever is still in the group and wait (bounded) until it is empty."""
    deadline = time.monotonic() + timeout
    while True:
        members = _group_members(pgid)
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
        for member in _group_members(pid):
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


class ManagedProcess:
    """One server process: started in its own session, logged to a file, stoppable as a group.

    ``stop_signal`` is sent to the whole process group unless ``signal_group`` is False
    (postgres wants SIGINT on the postmaster only: "fast shutdown"; the postmaster then
    stops its own backends). Whatever is left after ``stop_timeout`` is SIGKILLed, after
    ``dump_signal`` (SIGQUIT for Go servers: stack dump in the log) if one is given.
    """

    def __init__(
        self,
        name: str,
        argv: Sequence[str],
        *,
        log_path: Path,
        pid_path: Path,
        env: Mapping[str, str] | None = None,
        cwd: Path | None = None,
        user: int | None = None,
        group: int | None = None,
        stop_signal: int = signal.SIGTERM,
        signal_group: bool = True,
        stop_timeout: float = DEFAULT_STOP_TIMEOUT,
        dump_signal: int | None = None,
    ) -> None:
        self.name = name
        self.argv = [str(a) for a in argv]
        self.log_path = log_path
        self.pid_path = pid_path
        self.env = dict(env) if env is not None else base_env()
        self.cwd = cwd
        self.user = user
        self.group = group
        self.stop_signal = stop_signal
        self.signal_group = signal_group
        self.stop_timeout = stop_timeout
        self.dump_signal = dump_signal
        self.popen: subprocess.Popen[bytes] | None = None
        self._log_offset = 0

    @property
    def command_line(self) -> str:
        return shlex.join(self.argv)

    @property
    def pid(self) -> int | None:
        return self.popen.pid if self.popen else None

    def _open_log(self) -> IO[bytes]:
        self.log_path.parent.mkdir(parents=True, exist_ok=True)
        fh = self.log_path.open("ab")
        stamp = datetime.now().isoformat(timespec="seconds")
        fh.write(
            f"\n===== devstack {stamp}: starting {self.name}\n$ {self.command_line}\n".encode()
        )
        fh.flush()
        # The tail shown in errors starts here, so output of earlier runs never confuses it.
        self._log_offset = fh.tell()
        return fh

    def start(self) -> None:
        """Launch the process; raises DevstackError if the binary cannot be executed."""
        if self.popen is not None and self.popen.poll() is None:
            return
        kwargs: dict[str, Any] = {}
        if self.user is not None:
            # extra_groups=[] drops root's supplementary groups along with its uid.
            kwargs.update(user=self.user, group=self.group, extra_groups=[])
        with self._open_log() as log_fh:
            try:
                self.popen = subprocess.Popen(
                    self.argv,
                    stdin=subprocess.DEVNULL,
                    stdout=log_fh,
                    stderr=subprocess.STDOUT,
                    env=self.env,
                    cwd=self.cwd,
                    # Own session => own process group: stop() can signal the server and
                    # everything it forked at once, and a Ctrl+C in the terminal of
                    # `sartiq dev` reaches only us, so we shut the servers down in order.
                    start_new_session=True,
                    **kwargs,
                )
            except OSError as exc:
                raise self.error(f"could not execute it: {exc}") from exc
        self._write_pidfile()

    def _write_pidfile(self) -> None:
        assert self.popen is not None
        try:
            created = psutil.Process(self.popen.pid).create_time()
        except psutil.Error:
            created = time.time()
        record = {
            "name": self.name,
            "pid": self.popen.pid,
            "create_time": created,
            "argv": self.argv,
            "stop_signal": int(self.stop_signal),
            "signal_group": self.signal_group,
        }
        self.pid_path.parent.mkdir(parents=True, exist_ok=True)
        self.pid_path.write_text(json.dumps(record))

    def poll(self) -> int | None:
        """Exit code if the process has exited, else None."""
        return self.popen.poll() if self.popen else None

    def log_tail(self, lines: int = LOG_TAIL_LINES) -> str:
        return read_log_tail(self.log_path, lines, self._log_offset)

    def error(self, reason: str) -> DevstackError:
        """A DevstackError naming this service, its command line and its recent log."""
        return DevstackError(
            f"{self.name}: {reason}\n"
            f"command: {self.command_line}\n"
            f"log: {self.log_path}\n"
            f"--- last {LOG_TAIL_LINES} log lines ---\n{self.log_tail()}"
        )

    def wait_healthy(
        self, check: Callable[[], bool], *, timeout: float, interval: float = 0.1
    ) -> None:
        """Poll ``check`` until it returns True; fail fast if the process exits meanwhile.

        Exceptions from ``check`` count as "not yet" (a server refuses connections while
        starting); the last one is reported if the timeout expires.
        """
        deadline = time.monotonic() + timeout
        last_exc: BaseException | None = None
        while True:
            code = self.poll()
            if code is not None:
                raise self.error(f"exited early with code {code}")
            try:
                if check():
                    return
            except Exception as exc:
                last_exc = exc
            if time.monotonic() >= deadline:
                detail = f" (last check error: {last_exc!r})" if last_exc else ""
                raise self.error(f"not healthy after {timeout:.0f}s{detail}")
            time.sleep(interval)

    def _note(self, message: str) -> None:
        """Append a devstack line to the process's log (e.g. why it was killed)."""
        with contextlib.suppress(OSError), self.log_path.open("ab") as fh:
            stamp = datetime.now().isoformat(timespec="seconds")
            fh.write(f"===== devstack {stamp}: {self.name} {message}\n".encode())

    def stop(self) -> None:
        """Stop the process and its whole group; safe to call more than once."""
        popen, self.popen = self.popen, None
        if popen is None:
            return
        pgid = popen.pid
        if popen.poll() is None:
            if self.signal_group:
                kill_group(pgid, self.stop_signal)
            else:
                with contextlib.suppress(ProcessLookupError):
                    popen.send_signal(self.stop_signal)
            try:
                popen.wait(self.stop_timeout)
            except subprocess.TimeoutExpired:
                self._note(f"did not stop within {self.stop_timeout:.0f}s: killing it")
                if self.dump_signal is not None:
                    # A Go server prints every goroutine's stack on SIGQUIT: the log then
                    # shows where its shutdown hung.
                    kill_group(pgid, self.dump_signal)
                    with contextlib.suppress(subprocess.TimeoutExpired):
                        popen.wait(1.0)
                kill_group(pgid)
                popen.wait()
        # The leader is gone (and reaped); anything it left in its group goes too.
        kill_group(pgid)
        _reap_group(pgid, timeout=2.0)
        with contextlib.suppress(OSError):
            self.pid_path.unlink()
