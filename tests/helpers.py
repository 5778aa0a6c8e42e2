"""Small API client helpers so tests read like specifications."""

from __future__ import annotations

import asyncio
import os
import sys
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

import httpx

from core.config import Settings
from devstack.process import ManagedProcess

PREFIX = "/api/v1"
ROOT = Path(__file__).resolve().parents[1]
PASSWORD = "correct-horse-battery"


@dataclass
class UserHandle:
    id: str
    email: str
    password: str
    access_token: str
    refresh_token: str | None
    orgs: list[str] = field(default_factory=list)

    @property
    def headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.access_token}"}


class Api:
    """Thin wrapper over the ASGI client: paths are relative to /api/v1."""

    def __init__(self, client: httpx.AsyncClient, settings: Settings) -> None:
        self.client = client
        self.settings = settings

    async def request(
        self, method: str, path: str, *, as_: UserHandle | None = None, **kwargs: Any
    ) -> httpx.Response:
        headers = dict(kwargs.pop("headers", {}) or {})
        if as_ is not None:
            headers.update(as_.headers)
        return await self.client.request(method, PREFIX + path, headers=headers, **kwargs)

    async def get(self, path: str, **kw: Any) -> httpx.Response:
        return await self.request("GET", path, **kw)

    async def post(self, path: str, **kw: Any) -> httpx.Response:
        return await self.request("POST", path, **kw)

    async def patch(self, path: str, **kw: Any) -> httpx.Response:
        return await self.request("PATCH", path, **kw)

    async def put(self, path: str, **kw: Any) -> httpx.Response:
        return await self.request("PUT", path, **kw)

    async def delete(self, path: str, **kw: Any) -> httpx.Response:
        return await self.request("DELETE", path, **kw)

    async def login(self, email: str, password: str) -> UserHandle:
        r = await self.post("/login/access-token", data={"username": email, "password": password})
        assert r.status_code == 200, r.text
        body = r.json()
        me = await self.get(
            "/users/me", headers={"Authorization": f"Bearer {body['access_token']}"}
        )
        assert me.status_code == 200, me.text
        return UserHandle(
            id=me.json()["id"],
            email=email,
            password=password,
            access_token=body["access_token"],
            refresh_token=body.get("refresh_token"),
        )

    async def new_user(self, *, with_org: bool = True) -> UserHandle:
        """Sign up a fresh user (and by default an organization it owns)."""
        email = f"user-{uuid.uuid4().hex[:12]}@example.com"
        r = await self.post("/users/signup", json={"email": email, "password": PASSWORD})
        assert r.status_code == 201, r.text
        handle = await self.login(email, PASSWORD)
        if with_org:
            org = await self.post("/organizations/", as_=handle, json={"name": f"Org of {email}"})
            assert org.status_code == 201, org.text
            handle.orgs.append(org.json()["id"])
        return handle

    async def invite(
        self, org: str, inviter: UserHandle, email: str, role: str = "member"
    ) -> dict[str, Any]:
        """Invite an address to the organization; assert the 202 and answer the invitation."""
        r = await self.post(
            f"/organizations/{org}/members", as_=inviter, json={"email": email, "role": role}
        )
        assert r.status_code == 202, r.text
        return dict(r.json())

    async def add_member(
        self, org: str, owner: UserHandle, member: UserHandle, role: str = "member"
    ) -> None:
        """Make `member` a member: `owner` invites it, it accepts (membership is by consent)."""
        invitation = await self.invite(org, owner, member.email, role)
        r = await self.post(f"/invitations/{invitation['id']}/accept", as_=member)
        assert r.status_code == 200, r.text

    async def create(
        self, path: str, body: dict[str, Any], *, as_: UserHandle, org: str | None = None
    ) -> dict[str, Any]:
        """POST and assert 201; `org` is sent as `?organization_id=`."""
        params = {"organization_id": org} if org else None
        r = await self.post(path, as_=as_, json=body, params=params)
        assert r.status_code == 201, r.text
        return r.json()


T = TypeVar("T")


async def eventually(
    probe: Callable[[], Awaitable[T | None]], *, within: float, what: str, every: float = 0.05
) -> T:
    """Poll `probe` until it returns something truthy; fail after `within` seconds."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + within
    while True:
        value = await probe()
        if value:
            return value
        if loop.time() > deadline:
            raise AssertionError(f"not within {within}s: {what}")
        await asyncio.sleep(every)


class WorkerProcess(ManagedProcess):
    """`python worker.py` as a child process, serving only `prefix`-ed task queues (the
    fault tests kill it with SIGKILL and start it again)."""

    # What `python` runs (a subclass may run the worker wrapped, as the chaos suite does).
    command: tuple[str, ...] = ("worker.py",)

    def __init__(
        self,
        settings: Settings,
        prefix: str,
        log_path: Path,
        env: dict[str, str] | None = None,
    ) -> None:
        super().__init__(
            "worker",
            [sys.executable, *self.command],
            log_path=log_path,
            cwd=ROOT,
            env={
                **os.environ,
                # Explicit: unset, the worker's settings would be production's and refuse
                # the test secrets.
                "ENVIRONMENT": settings.ENVIRONMENT,
                "DATABASE_URL": settings.DATABASE_URL,
                "REDIS_URL": settings.REDIS_URL,
                "COMPUTE_SERVER_API_URL": settings.COMPUTE_SERVER_API_URL,
                "COMPUTE_SERVER_ADMIN_TOKEN": settings.COMPUTE_SERVER_ADMIN_TOKEN,
                "COMPUTE_EVENTS_STREAM": settings.COMPUTE_EVENTS_STREAM,
                "GENERATION_POLL_INTERVAL_SECONDS": str(settings.GENERATION_POLL_INTERVAL_SECONDS),
                "TASK_QUEUE_PREFIX": prefix,
                "PYTHONUNBUFFERED": "1",
                **(env or {}),
            },
            # A graceful stop lets the worker finish its tasks; kill() is the crash.
            stop_timeout=15,
            die_with_parent=True,
        )
        self.starts = 0

    def start(self) -> None:
        assert not self.running, "already running"
        self.starts += 1
        super().start()

    def assert_alive(self) -> None:
        assert self.running, f"worker exited with {self.poll()}: {self.log_tail(60)}"


class ThrottledProxy:
    """A TCP proxy whose traffic, each way and over all its connections, is held to
    `bytes_per_second`: a transfer through it takes a known least time whatever the
    machine's speed (a test that must act in the middle of one need not race it)."""

    def __init__(self, upstream: str, bytes_per_second: int) -> None:
        url = httpx.URL(upstream)
        self.upstream_host, self.upstream_port = url.host, url.port or 80
        self.scheme = url.scheme
        self.rate = bytes_per_second
        self._slots = {"up": 0.0, "down": 0.0}  # when each direction's budget frees up
        self._server: asyncio.Server | None = None
        self._pumps: set[asyncio.Task[None]] = set()

    @property
    def url(self) -> str:
        assert self._server is not None
        port = self._server.sockets[0].getsockname()[1]
        return f"{self.scheme}://127.0.0.1:{port}"

    async def __aenter__(self) -> ThrottledProxy:
        self._server = await asyncio.start_server(self._serve, "127.0.0.1", 0)
        return self

    async def __aexit__(self, *exc: object) -> None:
        assert self._server is not None
        self._server.close()
        for pump in list(self._pumps):
            pump.cancel()
        await asyncio.gather(*self._pumps, return_exceptions=True)

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            up_reader, up_writer = await asyncio.open_connection(
                self.upstream_host, self.upstream_port
            )
        except OSError:
            writer.close()
            return
        for direction, source, sink in (
            ("up", reader, up_writer),
            ("down", up_reader, writer),
        ):
            pump = asyncio.create_task(self._pump(direction, source, sink))
            self._pumps.add(pump)
            pump.add_done_callback(self._pumps.discard)

    async def _pump(
        self, direction: str, source: asyncio.StreamReader, sink: asyncio.StreamWriter
    ) -> None:
        loop = asyncio.get_running_loop()
        try:
            while chunk := await source.read(64 * 1024):
                # Book this chunk's share of the direction's budget, wait for its slot to end.
                start = max(loop.time(), self._slots[direction])
                self._slots[direction] = start + len(chunk) / self.rate
                await asyncio.sleep(self._slots[direction] - loop.time())
                sink.write(chunk)
                await sink.drain()
        except (ConnectionError, asyncio.CancelledError):
            pass
        finally:
            sink.close()
