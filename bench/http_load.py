"""A lean HTTP/1.1 load client: one keep-alive connection per concurrent caller.

Why not httpx for the load: its connection pool re-examines every connection on every
request (a `getpeername` per connection to check expiry), so at 50 concurrent requests the
benchmark process spent ~90 % of a core in the client, on a 2-core machine shared with the
API it measures; the figures then measured the client. This one does only what a load
generator needs: write a request, read the status line, headers and a `Content-Length` or
chunked body, and keep the connection.
"""

from __future__ import annotations

import asyncio
import json
from typing import Any
from urllib.parse import urlencode, urlsplit


class HttpError(RuntimeError):
    pass


class KeepAliveConnection:
    def __init__(self, base_url: str, headers: dict[str, str] | None = None) -> None:
        url = urlsplit(base_url)
        if url.scheme != "http" or url.hostname is None:
            raise ValueError(f"only http://host:port URLs: {base_url}")
        self.host, self.port = url.hostname, url.port or 80
        self.prefix = url.path.rstrip("/")
        self.headers = {"Host": f"{self.host}:{self.port}", **(headers or {})}
        self._reader: asyncio.StreamReader | None = None
        self._writer: asyncio.StreamWriter | None = None

    async def close(self) -> None:
        if self._writer is not None:
            self._writer.close()
            self._reader = self._writer = None

    async def request(
        self,
        method: str,
        path: str,
        *,
        params: dict[str, Any] | None = None,
        json_body: Any = None,
        form: dict[str, str] | None = None,
    ) -> tuple[int, bytes]:
        """(status, body). A connection the server closed while idle is reopened once."""
        target = self.prefix + path + (f"?{urlencode(params)}" if params else "")
        body = b"" if json_body is None else json.dumps(json_body).encode()
        head = [f"{method} {target} HTTP/1.1"]
        head += [f"{k}: {v}" for k, v in self.headers.items()]
        if json_body is not None:
            head += ["Content-Type: application/json"]
        elif form is not None:
            body = urlencode(form).encode()
            head += ["Content-Type: application/x-www-form-urlencoded"]
        head += [f"Content-Length: {len(body)}", "", ""]
        payload = "\r\n".join(head).encode() + body
        for attempt in (1, 2):
            reused = self._writer is not None
            if not reused:
                self._reader, self._writer = await asyncio.open_connection(self.host, self.port)
            assert self._reader is not None and self._writer is not None
            try:
                self._writer.write(payload)
                await self._writer.drain()
                return await self._response(self._reader)
            except (ConnectionError, asyncio.IncompleteReadError):
                await self.close()
                if not reused or attempt == 2:
                    raise
        raise AssertionError("unreachable")

    async def _response(self, reader: asyncio.StreamReader) -> tuple[int, bytes]:
        head = await reader.readuntil(b"\r\n\r\n")
        lines = head.decode("latin-1").split("\r\n")
        parts = lines[0].split(" ", 2)
        if len(parts) < 2 or not parts[0].startswith("HTTP/1."):
            raise HttpError(f"not an HTTP/1.x response: {lines[0]!r}")
        status = int(parts[1])
        fields = {}
        for line in lines[1:]:
            if line:
                name, _, value = line.partition(":")
                fields[name.strip().lower()] = value.strip()
        if "content-length" in fields:
            body = await reader.readexactly(int(fields["content-length"]))
        elif fields.get("transfer-encoding", "").lower() == "chunked":
            body = await _chunked(reader)
        else:
            raise HttpError("response without Content-Length or chunked body")
        if fields.get("connection", "").lower() == "close":
            await self.close()
        return status, body


async def _chunked(reader: asyncio.StreamReader) -> bytes:
    chunks = []
    while True:
        size = int((await reader.readuntil(b"\r\n")).split(b";")[0], 16)
        if size == 0:
            await reader.readuntil(b"\r\n")  # the empty trailer section
            return b"".join(chunks)
        chunks.append(await reader.readexactly(size))
        await reader.readexactly(2)
