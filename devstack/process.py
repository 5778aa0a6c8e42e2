"""The one child-process wrapper of devstack, `sartiq dev`, the bench and the tests: its own
session (so its whole group can be stopped), output to a log file or to a callback, an
optional pid file, a health wait and a bounded stop."""

from __future__ import annotations

import contextlib
import json
import os
import shlex
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from datetime import datetime
from pathlib import Path
from typing import IO, Any

import psutil

from devstack.errors import DevstackError
from devstack.process_groups import DEFAULT_STOP_TIMEOUT, kill_group, reap_group

LOG_TAIL_LINES = 30
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


def die_with_parent() -> None:
    """Linux: the child gets SIGTERM if its parent dies without stopping it (SIGKILL), so no
    app process outlives `sartiq dev` or a bench run."""
    if sys.platform != "linux":
        return
    import ctypes

    pr_set_pdeathsig = 1
    with contextlib.suppress(OSError, AttributeError):
        ctypes.CDLL("libc.so.6", use_errno=True).prctl(pr_set_pdeathsig, signal.SIGTERM)


class ManagedProcess:
    """One child process: started in its own session, its output appended to ``log_path``
    (or, with ``on_output``, handed over line by line), stoppable as a group.

    ``stop_signal`` is sent to the whole process group unless ``signal_group`` is False
    (postgres wants SIGINT on the postmaster only: "fast shutdown"; the postmaster then
    stops its own backends). Whatever is left after ``stop_timeout`` is SIGKILLed, after
    ``dump_signal`` (SIGQUIT for Go servers: stack dump in the log) if one is given. With a
    ``pid_path`` the process is recorded for :func:`devstack.process_groups.kill_stale`;
    ``die_with_parent`` has it SIGTERMed if we die without stopping it.
    After it ended, ``popen`` (and ``pid``, ``poll()``) still tell how; ``start()`` runs it
    again.
    """

    def __init__(
        self,
        name: str,
        argv: Sequence[str],
        *,
        log_path: Path | None = None,
        on_output: Callable[[str], None] | None = None,
        pid_path: Path | None = None,
        env: Mapping[str, str] | None = None,
        cwd: Path | None = None,
        user: int | None = None,
        group: int | None = None,
        pass_fds: Sequence[int] = (),
        die_with_parent: bool = False,
        stop_signal: int = signal.SIGTERM,
        signal_group: bool = True,
        stop_timeout: float = DEFAULT_STOP_TIMEOUT,
        dump_signal: int | None = None,
    ) -> None:
        if (log_path is None) == (on_output is None):
            raise ValueError(f"{name}: give exactly one of log_path and on_output")
        self.name = name
        self.argv = [str(a) for a in argv]
        self.log_path = log_path
        self.on_output = on_output
        self.pid_path = pid_path
        self.env = dict(env) if env is not None else base_env()
        self.cwd = cwd
        self.user = user
        self.group = group
        self.pass_fds = tuple(pass_fds)
        self.die_with_parent = die_with_parent
        self.stop_signal = stop_signal
        self.signal_group = signal_group
        self.stop_timeout = stop_timeout
        self.dump_signal = dump_signal
        self.popen: subprocess.Popen[bytes] | None = None
        self._log_offset = 0
        self._pump: threading.Thread | None = None
        self._stopped = False

    @property
    def command_line(self) -> str:
        return shlex.join(self.argv)

    @property
    def pid(self) -> int | None:
        return self.popen.pid if self.popen else None

    @property
    def running(self) -> bool:
        return self.popen is not None and self.popen.poll() is None

    def _open_log(self) -> IO[bytes]:
        assert self.log_path is not None
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
        """Launch the process (again, if it ended); DevstackError if it cannot be executed."""
        if self.running:
            return
        kwargs: dict[str, Any] = {}
        if self.user is not None:
            # extra_groups=[] drops root's supplementary groups along with its uid.
            kwargs.update(user=self.user, group=self.group, extra_groups=[])
        if self.die_with_parent:
            kwargs["preexec_fn"] = die_with_parent
        with contextlib.ExitStack() as stack:
            stdout: Any = subprocess.PIPE
            if self.log_path is not None:
                stdout = stack.enter_context(self._open_log())
            try:
                self.popen = subprocess.Popen(
                    self.argv,
                    stdin=subprocess.DEVNULL,
                    stdout=stdout,
                    stderr=subprocess.STDOUT,
                    env=self.env,
                    cwd=self.cwd,
                    pass_fds=self.pass_fds,
                    # Own session => own process group: stop() can signal the process and
                    # everything it forked at once, and a Ctrl+C in the terminal of
                    # `sartiq dev` reaches only us, so we shut the children down in order.
                    start_new_session=True,
                    **kwargs,
                )
            except OSError as exc:
                raise self.error(f"could not execute it: {exc}") from exc
        self._stopped = False
        if self.on_output is not None:
            self._pump = threading.Thread(
                target=self._pump_output, args=(self.popen,), name=f"output:{self.name}"
            )
            self._pump.daemon = True
            self._pump.start()
        if self.pid_path is not None:
            self._write_pidfile()

    def _pump_output(self, popen: subprocess.Popen[bytes]) -> None:
        assert popen.stdout is not None and self.on_output is not None
        with popen.stdout:
            for raw in iter(popen.stdout.readline, b""):
                self.on_output(raw.decode(errors="replace").rstrip())

    def wait_output(self, timeout: float = 1.0) -> None:
        """Until every line the ended process wrote has reached ``on_output`` (bounded)."""
        if self._pump is not None:
            self._pump.join(timeout)

    def _write_pidfile(self) -> None:
        assert self.popen is not None and self.pid_path is not None
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
        """Exit code if the process has exited, else None (also None before the start)."""
        return self.popen.poll() if self.popen else None

    def wait(self, timeout: float | None = None) -> int | None:
        """The exit code once the process ended, None if it still runs after ``timeout``."""
        if self.popen is None:
            return None
        try:
            return self.popen.wait(timeout)
        except subprocess.TimeoutExpired:
            return None

    def send_signal(self, sig: int) -> None:
        """``sig`` to the process group (to the leader only unless ``signal_group``)."""
        if not self.running:
            return
        assert self.popen is not None
        if self.signal_group:
            kill_group(self.popen.pid, sig)
        else:
            with contextlib.suppress(ProcessLookupError):
                self.popen.send_signal(sig)

    def log_tail(self, lines: int = LOG_TAIL_LINES) -> str:
        if self.log_path is None:
            return ""
        return read_log_tail(self.log_path, lines, self._log_offset)

    def error(self, reason: str) -> DevstackError:
        """A DevstackError naming this process, its command line and its recent log."""
        message = f"{self.name}: {reason}\ncommand: {self.command_line}"
        if self.log_path is not None:
            message += (
                f"\nlog: {self.log_path}\n"
                f"--- last {LOG_TAIL_LINES} log lines ---\n{self.log_tail()}"
            )
        return DevstackError(message)

    def raise_if_exited(self) -> None:
        """DevstackError (with the log's tail) if the process has ended."""
        code = self.poll()
        if code is not None:
            raise self.error(f"exited with code {code}")

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
        if self.log_path is None:
            return
        with contextlib.suppress(OSError), self.log_path.open("ab") as fh:
            stamp = datetime.now().isoformat(timespec="seconds")
            fh.write(f"===== devstack {stamp}: {self.name} {message}\n".encode())

    def kill(self) -> None:
        """SIGKILL the whole group now (no graceful shutdown: in-flight work is lost)."""
        self._end(graceful=False)

    def stop(self) -> None:
        """Stop the process and its whole group; safe to call more than once."""
        self._end(graceful=True)

    def _end(self, *, graceful: bool) -> None:
        popen = self.popen
        if popen is None or self._stopped:
            return
        self._stopped = True
        pgid = popen.pid
        if popen.poll() is None and graceful:
            self.send_signal(self.stop_signal)
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
        # The leader is gone (or about to be); anything it left in its group goes too.
        kill_group(pgid)
        popen.wait()
        reap_group(pgid, timeout=2.0)
        self.wait_output()
        if self.pid_path is not None:
            with contextlib.suppress(OSError):
                self.pid_path.unlink()
