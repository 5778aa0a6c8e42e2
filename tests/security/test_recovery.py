"""Password recovery tells nobody whether an address has an account: the same answer, and
the same time, whatever the address and whatever the SMTP server does; the mail itself
goes out after the answer."""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import httpx

from api.main import create_app
from core.config import Settings
from tests.helpers import PREFIX, Api, UserHandle
from tests.mailbox import Mailbox

SMTP_DELAY = 2.0
# Volatile by nature: when, which request, how much of the rate limit is left.
VOLATILE_HEADERS = {"date", "x-request-id", "ratelimit-reset", "ratelimit-remaining"}


class SlowSmtp:
    """A TCP proxy to the tests' SMTP server that holds every connection `delay` seconds
    before the server's greeting reaches the client: an SMTP server that answers slowly,
    but does deliver."""

    def __init__(self, host: str, port: int, delay: float) -> None:
        self.upstream = (host, port)
        self.delay = delay
        self._server: asyncio.Server | None = None
        self._tasks: set[asyncio.Task[None]] = set()

    @property
    def port(self) -> int:
        assert self._server is not None
        return int(self._server.sockets[0].getsockname()[1])

    async def __aenter__(self) -> SlowSmtp:
        self._server = await asyncio.start_server(self._serve, "127.0.0.1", 0)
        return self

    async def __aexit__(self, *exc: object) -> None:
        assert self._server is not None
        self._server.close()
        for task in list(self._tasks):
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await asyncio.sleep(self.delay)
        up_reader, up_writer = await asyncio.open_connection(*self.upstream)
        for source, sink in ((reader, up_writer), (up_reader, writer)):
            task = asyncio.create_task(self._pump(source, sink))
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)

    @staticmethod
    async def _pump(source: asyncio.StreamReader, sink: asyncio.StreamWriter) -> None:
        try:
            while chunk := await source.read(64 * 1024):
                sink.write(chunk)
                await sink.drain()
        except (ConnectionError, asyncio.CancelledError):
            pass
        finally:
            sink.close()


@asynccontextmanager
async def api_sending_through(settings: Settings, port: int) -> AsyncIterator[httpx.AsyncClient]:
    """An API process of its own whose mail goes to 127.0.0.1:`port`."""
    app = create_app(settings.model_copy(update={"SMTP_HOST": "127.0.0.1", "SMTP_PORT": port}))
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as c:
            yield c


def _missing_address() -> str:
    return f"nobody-{uuid.uuid4().hex[:12]}@example.com"


async def test_recovery_answers_the_same_whether_the_address_exists(
    api: Api, user: UserHandle, mailbox: Mailbox
) -> None:
    missing = _missing_address()
    absent = await api.post(f"/password-recovery/{missing}")
    present = await api.post(f"/password-recovery/{user.email}")
    assert (absent.status_code, absent.content) == (present.status_code, present.content)
    assert absent.status_code == 200

    def headers(r: httpx.Response) -> dict[str, str]:
        return {k: v for k, v in r.headers.items() if k not in VOLATILE_HEADERS}

    assert headers(absent) == headers(present)
    # Only the account gets a mail (sent after the answer: wait for it).
    await mailbox.wait_for(user.email, containing="reset-password?token=")
    assert await mailbox.messages_to(missing) == []


async def test_recovery_time_does_not_depend_on_the_smtp_server(
    settings: Settings, user: UserHandle, mailbox: Mailbox
) -> None:
    assert settings.SMTP_HOST, "the tests' stack runs an SMTP server"
    async with (
        SlowSmtp(settings.SMTP_HOST, settings.SMTP_PORT, SMTP_DELAY) as slow,
        api_sending_through(settings, slow.port) as client,
    ):
        took = {}
        for label, address in (("absent", _missing_address()), ("present", user.email)):
            began = time.monotonic()
            r = await client.post(f"{PREFIX}/password-recovery/{address}")
            took[label] = time.monotonic() - began
            assert r.status_code == 200, r.text
        # Both answer long before the SMTP server has even greeted.
        assert max(took.values()) < SMTP_DELAY / 2, took
        # ... and the account's mail still arrives, through the slow server, afterwards.
        began = time.monotonic()
        await mailbox.wait_for(user.email, containing="reset-password?token=")
        assert time.monotonic() - began > SMTP_DELAY / 2
