"""The whole local stack: which services to embed, starting them in parallel, stopping them."""

from __future__ import annotations

import atexit
import contextlib
import fcntl
import json
import logging
import os
import shutil
import threading
import time
from collections.abc import Callable, Iterable, Mapping
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path
from typing import IO

from devstack.errors import DevstackError
from devstack.ports import PortReservation
from devstack.registry import ALL_SERVICES, REPLACED_BY, SERVICE_CLASSES, SERVICE_VARS
from devstack.s3 import DEFAULT_BUCKET, ensure_external_bucket
from devstack.service import DEFAULT_HEALTH_TIMEOUT, EmbeddedService, StackContext
from devstack.temporal import DEFAULT_NAMESPACE

__all__ = ["ALL_SERVICES", "REPLACED_BY", "SERVICE_VARS", "DevstackError", "Stack", "StackEnv"]

_MARKER = ".devstack"  # says "this folder is a devstack state dir": fresh may wipe it
_LOCK = ".lock"

_logger = logging.getLogger("devstack")


class StackEnv(dict[str, str]):
    """The environment variables the app needs to reach the stack (a plain str->str dict)."""

    def as_env(self) -> dict[str, str]:
        """A plain dict copy, e.g. to ``os.environ.update`` or pass to a subprocess."""
        return dict(self)

    def to_json(self) -> str:
        return json.dumps(self, indent=2, sort_keys=True)


def _given(environ: Mapping[str, str], key: str) -> str | None:
    """The variable's value, treating empty (``DATABASE_URL=`` in a .env) as absent."""
    value = environ.get(key)
    return value if value else None


class Stack:
    """Postgres, Redis, S3, Temporal and an SMTP mailbox for development and tests, from
    PyPI wheels.

    A service whose variable (DATABASE_URL, REDIS_URL, R2_ENDPOINT_URL, TEMPORAL_ADDRESS,
    SMTP_HOST) is set in ``environ`` is not started; its variables are passed through unchanged. The
    others run as child processes with all their data under ``state_dir``::

        with Stack(Path(".sartiq")) as env:
            os.environ.update(env.as_env())
    """

    def __init__(
        self,
        state_dir: Path,
        *,
        environ: Mapping[str, str] | None = None,
        fresh: bool = False,
        ephemeral: bool = False,
        services: Iterable[str] = ALL_SERVICES,
        log: Callable[[str], None] | None = None,
        health_timeout: float = DEFAULT_HEALTH_TIMEOUT,
    ) -> None:
        self.state_dir = Path(state_dir).expanduser().resolve()
        self.environ = dict(os.environ if environ is None else environ)
        self.fresh = fresh
        self.ephemeral = ephemeral
        requested = set(services)
        unknown = requested - set(ALL_SERVICES)
        if unknown:
            raise ValueError(f"unknown services {sorted(unknown)}; known: {ALL_SERVICES}")
        self.services = [name for name in ALL_SERVICES if name in requested]
        self.log = log or _logger.info
        self.ctx = StackContext(self.state_dir, self.environ, ephemeral, self.log, health_timeout)
        self._lock = threading.RLock()
        self._lock_file: IO[str] | None = None
        self._embedded: dict[str, EmbeddedService] = {}
        self._started: list[str] = []
        self._env: StackEnv | None = None
        self.ports: dict[str, int] = {}
        self.start_seconds: float | None = None
        self._owner_pid: int | None = None
        self._stack_json: Path | None = None

    # -- public API -------------------------------------------------------------------

    @property
    def started_services(self) -> list[str]:
        """The services this stack runs itself (not given by the environment)."""
        return list(self._started)

    @property
    def env(self) -> StackEnv | None:
        """The env from :meth:`start`, or None while not started."""
        return self._env

    def start(self) -> StackEnv:
        """Start what is needed and return the app's env; a second call returns the same."""
        with self._lock:
            if self._env is not None:
                return self._env
            began = time.monotonic()
            self._acquire_state_dir()
            try:
                self._kill_stale()
                if self.fresh:
                    self._wipe_state_dir()
                env = self._start_services()
            except BaseException:
                # Keep the original error: a failure while cleaning up must not mask it.
                with contextlib.suppress(Exception):
                    self._stop_embedded()
                self._release_state_dir()
                raise
            self._env = env
            self.start_seconds = time.monotonic() - began
            self._owner_pid = os.getpid()
            atexit.register(self.stop)
            if self._embedded:
                self.log(
                    f"devstack: {', '.join(self._embedded)} up in {self.start_seconds:.1f}s "
                    f"(state in {self.state_dir})"
                )
            return env

    def stop(self) -> None:
        """Stop every embedded service (whole process groups); safe to call again."""
        with self._lock:
            atexit.unregister(self.stop)
            if self._owner_pid is not None and os.getpid() != self._owner_pid:
                # A forked child inherited this object (and its atexit hook): the servers
                # belong to the parent, which stops them.
                return
            try:
                if self._stack_json is not None:
                    self._stack_json.unlink(missing_ok=True)
                    self._stack_json = None
                if self._embedded:
                    began = time.monotonic()
                    names = ", ".join(self._embedded)
                    self._stop_embedded()
                    self.log(f"devstack: stopped {names} in {time.monotonic() - began:.1f}s")
            finally:
                self._env = None
                self._release_state_dir()

    def stop_service(self, name: str) -> None:
        """Stop one embedded service (an outage), keeping its data, ports and place in the
        stack: :meth:`start_service` brings it back where the app expects it."""
        with self._lock:
            self._running_service(name).stop()

    def start_service(self, name: str) -> None:
        """Start a service stopped by :meth:`stop_service` again, on the same ports and the
        same data; returns once it is healthy (a running service is left alone)."""
        with self._lock:
            service = self._running_service(name)
            if any(proc.poll() is None for proc in service.processes):
                return
            service.processes.clear()
            env = service.start(self.ports)
            # Same ports, same credentials: what the app was given is still right.
            assert self._env is not None
            if any(self._env.get(key) != value for key, value in env.items()):
                raise DevstackError(f"{name}: restarted with other settings: {env}")

    def restart(self, name: str) -> None:
        """Stop one embedded service cleanly and start it again in place (what an operator's
        `systemctl restart` does): data kept, same port, clients must reconnect."""
        with self._lock:
            self.stop_service(name)
            self.start_service(name)

    def _running_service(self, name: str) -> EmbeddedService:
        if self._env is None:
            raise DevstackError("stack is not started")
        service = self._embedded.get(name)
        if service is None:
            raise DevstackError(f"{name} is not embedded by this stack ({self.started_services})")
        return service

    def write_stack_json(self, path: Path | None = None) -> Path:
        """Write env, embedded services, ports and owner pid as JSON (default
        ``<state_dir>/stack.json``) so other processes can find a running stack.

        The file is deleted again by :meth:`stop`.
        """
        if self._env is None:
            raise DevstackError("stack is not started")
        target = Path(path) if path is not None else self.state_dir / "stack.json"
        payload = {
            "env": dict(self._env),
            "started_services": self.started_services,
            "ports": self.ports,
            "pid": os.getpid(),
            "state_dir": str(self.state_dir),
        }
        tmp = target.with_name(target.name + ".tmp")
        tmp.write_text(json.dumps(payload, indent=2, sort_keys=True) + "\n")
        tmp.replace(target)
        self._stack_json = target  # removed by stop(): it must not outlive the stack
        return target

    def __enter__(self) -> StackEnv:
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    # -- state dir ----------------------------------------------------------------------

    def _acquire_state_dir(self) -> None:
        """Create the state dir and lock it for this stack's lifetime.

        The lock is what makes killing "stale" processes safe: it is held by a live stack
        and vanishes with its process, so a stack on a locked dir is never called stale.
        """
        if not self.state_dir.exists():
            self.state_dir.mkdir(parents=True)
            (self.state_dir / _MARKER).touch()
        elif not any(self.state_dir.iterdir()):
            (self.state_dir / _MARKER).touch()
        fh = (self.state_dir / _LOCK).open("a+")
        try:
            fcntl.flock(fh, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            fh.seek(0)
            owner = fh.read().strip() or "?"
            fh.close()
            raise DevstackError(
                f"state dir {self.state_dir} is in use by another running stack (pid {owner})"
            ) from None
        fh.seek(0)
        fh.truncate()
        fh.write(f"{os.getpid()}\n")
        fh.flush()
        self._lock_file = fh
        (self.state_dir / _MARKER).touch()
        self.ctx.logs_dir.mkdir(exist_ok=True)

    def _release_state_dir(self) -> None:
        fh, self._lock_file = self._lock_file, None
        if fh is not None:
            with contextlib.suppress(OSError):
                fcntl.flock(fh, fcntl.LOCK_UN)
            fh.close()

    def _kill_stale(self) -> None:
        """Stop what a crashed earlier run left running (found by its pid files)."""
        for name in ALL_SERVICES:
            SERVICE_CLASSES[name](self.ctx).kill_stale()

    def _wipe_state_dir(self) -> None:
        """Delete everything in the state dir but the lock (which we hold)."""
        if not (self.state_dir / _MARKER).exists():
            raise DevstackError(
                f"fresh=True: refusing to wipe {self.state_dir}, it has no {_MARKER} marker "
                "so it may not be a devstack state dir"
            )
        self.log(f"devstack: wiping {self.state_dir}")
        for child in self.state_dir.iterdir():
            if child.name in (_LOCK, _MARKER):
                continue
            if child.is_dir() and not child.is_symlink():
                shutil.rmtree(child)
            else:
                child.unlink()
        shutil.rmtree(self.ctx.run_dir, ignore_errors=True)
        self.ctx.logs_dir.mkdir(exist_ok=True)

    # -- services -----------------------------------------------------------------------

    def _start_services(self) -> StackEnv:
        env = StackEnv()
        # Services not asked for: whatever the environment says about them goes through.
        for name in ALL_SERVICES:
            if name not in self.services:
                env.update({k: self.environ[k] for k in SERVICE_VARS[name] if k in self.environ})
        external = [n for n in self.services if _given(self.environ, REPLACED_BY[n])]
        for name in external:
            env.update(self._external_env(name))
        self._embedded = {
            name: SERVICE_CLASSES[name](self.ctx) for name in self.services if name not in external
        }
        self._started = list(self._embedded)
        if not self._embedded and "s3" not in external:
            return env

        ports_file = self.state_dir / "ports.json"
        try:
            remembered = json.loads(ports_file.read_text())
        except (OSError, ValueError):
            remembered = {}
        if not isinstance(remembered, dict):
            remembered = {}
        reservation = PortReservation(remembered)
        for service in self._embedded.values():
            service.reserve_ports(reservation)
        # Released just before the servers bind them; the window for another process to
        # grab one is the few milliseconds until each server starts listening.
        self.ports = reservation.release()
        ports_file.write_text(json.dumps({**remembered, **self.ports}, indent=2) + "\n")

        with ThreadPoolExecutor(max_workers=len(self._embedded) + 1) as pool:
            futures: dict[str, Future[dict[str, str]]] = {
                name: pool.submit(self._timed_start, service)
                for name, service in self._embedded.items()
            }
            if "s3" in external:
                futures["s3"] = pool.submit(ensure_external_bucket, self.environ)
            errors: list[BaseException] = []
            for future in futures.values():
                try:
                    env.update(future.result())
                except BaseException as exc:
                    errors.append(exc)
        if errors:
            if len(errors) == 1:
                raise errors[0]
            raise DevstackError("\n\n".join(str(e) for e in errors)) from errors[0]
        return env

    def _timed_start(self, service: EmbeddedService) -> dict[str, str]:
        began = time.monotonic()
        result = service.start(self.ports)
        self.log(f"devstack: {service.name} ready in {time.monotonic() - began:.1f}s")
        return result

    def _external_env(self, name: str) -> dict[str, str]:
        """Variables of a service given by the environment, passed through unchanged."""
        environ = self.environ
        if name == "s3":
            # The bucket is checked (and created) in parallel with the embedded services.
            return {
                "R2_ENDPOINT_URL": environ["R2_ENDPOINT_URL"],
                "R2_ACCESS_KEY_ID": environ.get("R2_ACCESS_KEY_ID", ""),
                "R2_SECRET_ACCESS_KEY": environ.get("R2_SECRET_ACCESS_KEY", ""),
                "R2_BUCKET_NAME": environ.get("R2_BUCKET_NAME") or DEFAULT_BUCKET,
            }
        if name == "temporal":
            return {
                "TEMPORAL_ADDRESS": environ["TEMPORAL_ADDRESS"],
                "TEMPORAL_NAMESPACE": environ.get("TEMPORAL_NAMESPACE") or DEFAULT_NAMESPACE,
                "TEMPORAL_UI_URL": environ.get("TEMPORAL_UI_URL", ""),
            }
        return {key: environ[key] for key in SERVICE_VARS[name] if key in environ}

    def _stop_embedded(self) -> None:
        """Stop all embedded services in parallel (each takes ~1-3 s to shut down)."""
        services = list(self._embedded.values())
        self._embedded = {}
        if not services:
            return
        errors: list[str] = []

        def stop_one(service: EmbeddedService) -> None:
            began = time.monotonic()
            try:
                service.stop()
            except Exception as exc:
                errors.append(str(exc))
            took = time.monotonic() - began
            if took > 3:  # worth knowing: stop() waits at most ~5 s before SIGKILL
                self.log(f"devstack: {service.name} took {took:.1f}s to stop")

        with ThreadPoolExecutor(max_workers=len(services)) as pool:
            list(pool.map(stop_one, services))
        if errors:
            raise DevstackError("; ".join(errors))

    def __repr__(self) -> str:
        state = "started" if self._env is not None else "stopped"
        return f"Stack({str(self.state_dir)!r}, services={self.services}, {state})"
