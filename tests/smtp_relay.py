"""A TCP relay in front of the tests' SMTP server, for the mail tests: it holds each
connection `delay` seconds before the server's greeting reaches the client (an SMTP server
that answers slowly, but does deliver), and can listen on a port chosen beforehand (an
SMTP server that comes back where the worker expects it)."""

from __future__ import annotations

import asyncio


class SmtpRelay:
    def __init__(self, host: str, port: int, *, delay: float = 0.0, listen: int = 0) -> None:
        self.upstream = (host, port)
        self.delay = delay
        self.listen = listen
        self._server: asyncio.Server | None = None
        self._tasks: set[asyncio.Task[None]] = set()

    @property
    def port(self) -> int:
        assert self._server is not None
        return int(self._server.sockets[0].getsockname()[1])

    async def __aenter__(self) -> SmtpRelay:
        self._server = await asyncio.start_server(self._serve, "127.0.0.1", self.listen)
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
