"""The benchmark's keep-alive client against a small raw HTTP server."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator

import pytest

from bench.http_load import KeepAliveConnection


class RawServer:
    """Answers each request by path: /plain (Content-Length), /chunked, /close (then
    closes the connection). Records request lines and bodies, and the connections opened."""

    def __init__(self) -> None:
        self.requests: list[tuple[str, bytes]] = []
        self.connections = 0
        self.server: asyncio.Server | None = None

    async def handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.connections += 1
        try:
            while True:
                head = await reader.readuntil(b"\r\n\r\n")
                lines = head.decode().split("\r\n")
                length = next(
                    (
                        int(v)
                        for k, _, v in (ln.partition(": ") for ln in lines)
                        if k == "Content-Length"
                    ),
                    0,
                )
                body = await reader.readexactly(length)
                self.requests.append((lines[0], body))
                path = lines[0].split(" ")[1].split("?")[0]
                if path == "/api/chunked":
                    writer.write(
                        b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"
                        b"4\r\nabcd\r\n3;ext=1\r\nefg\r\n0\r\n\r\n"
                    )
                else:
                    payload = json.dumps({"echo": body.decode()}).encode()
                    close = path == "/api/close"
                    writer.write(
                        b"HTTP/1.1 201 Created\r\nContent-Length: %d\r\n%s\r\n%s"
                        % (len(payload), b"Connection: close\r\n" if close else b"", payload)
                    )
                    if close:
                        await writer.drain()
                        writer.close()
                        return
                await writer.drain()
        except asyncio.IncompleteReadError:
            writer.close()


@pytest.fixture
async def server() -> AsyncIterator[tuple[RawServer, str]]:
    raw = RawServer()
    raw.server = await asyncio.start_server(raw.handle, "127.0.0.1", 0)
    port = raw.server.sockets[0].getsockname()[1]
    yield raw, f"http://127.0.0.1:{port}/api"
    raw.server.close()


async def test_requests_share_one_connection_and_bodies_are_read_whole(
    server: tuple[RawServer, str],
) -> None:
    raw, url = server
    conn = KeepAliveConnection(url, {"Authorization": "Bearer t"})
    status, body = await conn.request("POST", "/plain", params={"a": "1 2"}, json_body={"x": 1})
    assert status == 201 and json.loads(body) == {"echo": '{"x": 1}'}
    status, body = await conn.request("GET", "/chunked")
    assert (status, body) == (200, b"abcdefg")
    assert raw.connections == 1
    assert raw.requests[0][0] == "POST /api/plain?a=1+2 HTTP/1.1"
    await conn.close()


async def test_a_connection_the_server_closed_is_reopened(server: tuple[RawServer, str]) -> None:
    raw, url = server
    conn = KeepAliveConnection(url)
    assert (await conn.request("GET", "/close"))[0] == 201
    assert (await conn.request("GET", "/plain"))[0] == 201
    assert raw.connections == 2
    await conn.close()


def test_only_plain_http_urls() -> None:
    with pytest.raises(ValueError):
        KeepAliveConnection("https://example.com")
