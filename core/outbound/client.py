"""The guarded HTTP clients (sync and async): every hop resolved, checked and pinned.

Proxy variables are ignored and each request is bounded in bytes and time (`Limits`).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urljoin

import httpx

from core.outbound.addresses import (
    AllowList,
    IPAddress,
    OutboundError,
    checked_address,
    checked_address_async,
    parse_url,
    pin,
)


@dataclass(frozen=True)
class Limits:
    """Bounds of one request (redirects included)."""

    max_bytes: int = 1024 * 1024
    total_seconds: float = 30.0
    connect_seconds: float = 5.0
    read_seconds: float = 15.0
    max_redirects: int = 3

    def timeout(self) -> httpx.Timeout:
        return httpx.Timeout(
            connect=self.connect_seconds,
            read=self.read_seconds,
            write=self.read_seconds,
            pool=self.connect_seconds,
        )


@dataclass
class Response:
    """What came back: status, headers, the body (at most `max_bytes`) and the final URL."""

    status_code: int
    headers: httpx.Headers
    content: bytes
    url: str
    history: list[str] = field(default_factory=list)

    @property
    def is_success(self) -> bool:
        return 200 <= self.status_code < 300


HeaderCheck = Callable[[httpx.Response], None]


class _Body:
    """Counts a body as it arrives against the byte cap and the deadline."""

    def __init__(self, response: httpx.Response, limits: Limits, deadline: float) -> None:
        self.limits, self.deadline = limits, deadline
        self.chunks: list[bytes] = []
        self.size = 0
        declared = response.headers.get("content-length", "")
        if declared.isdigit() and int(declared) > limits.max_bytes:
            raise self._too_large()

    def _too_large(self) -> OutboundError:
        return OutboundError(
            f"response is larger than {self.limits.max_bytes} bytes", kind="too_large"
        )

    def add(self, chunk: bytes) -> None:
        self.size += len(chunk)
        if self.size > self.limits.max_bytes:
            raise self._too_large()
        if time.monotonic() > self.deadline:
            raise OutboundError("timed out (response too slow)", kind="timeout", transient=True)
        self.chunks.append(chunk)

    def content(self) -> bytes:
        return b"".join(self.chunks)


def _transport_error(error: httpx.HTTPError) -> OutboundError:
    if isinstance(error, httpx.TimeoutException):
        return OutboundError("timed out", kind="timeout", transient=True)
    return OutboundError(
        f"unreachable ({type(error).__name__})", kind="unreachable", transient=True
    )


class _Request:
    """One request's state across its redirect hops (shared by the sync and async loops)."""

    def __init__(
        self,
        method: str,
        url: str,
        *,
        content: bytes | None,
        headers: dict[str, str] | None,
        follow_redirects: bool,
        limits: Limits,
        check_headers: HeaderCheck | None,
    ) -> None:
        self.method, self.url, self.content = method.upper(), url, content
        self.headers = headers or {}
        self.follow = follow_redirects and self.method in ("GET", "HEAD")
        self.limits, self.check_headers = limits, check_headers
        self.deadline = time.monotonic() + limits.total_seconds
        self.history: list[str] = []
        self.target = parse_url(url)

    def hops(self) -> range:
        return range(self.limits.max_redirects + 1)

    def stream_args(self, address: IPAddress) -> dict[str, Any]:
        pinned = pin(self.target, address)
        return {
            "method": self.method,
            "url": pinned.url,
            "content": self.content,
            "headers": {**self.headers, **pinned.headers},
            "extensions": pinned.extensions,
            "timeout": self.limits.timeout(),
        }

    def redirected(self, response: httpx.Response) -> bool:
        """Move to the redirect's target (checked on the next hop) when one is followed."""
        location = response.headers.get("location")
        if not (self.follow and response.is_redirect and location):
            return False
        self.history.append(self.url)
        self.url = urljoin(self.url, location)
        self.target = parse_url(self.url)
        return True

    def body(self, response: httpx.Response) -> _Body:
        if self.check_headers is not None:
            self.check_headers(response)
        return _Body(response, self.limits, self.deadline)

    def result(self, response: httpx.Response, body: _Body) -> Response:
        return Response(
            response.status_code, response.headers, body.content(), self.url, self.history
        )

    def too_many_redirects(self) -> OutboundError:
        return OutboundError(f"more than {self.limits.max_redirects} redirects", kind="redirects")


def _client_options(limits: Limits, user_agent: str, transport: object) -> dict[str, Any]:
    return {
        "transport": transport,
        "timeout": limits.timeout(),
        "follow_redirects": False,  # each hop is checked by hand
        "trust_env": False,  # a proxy from the environment would bypass the address check
        "headers": {"User-Agent": user_agent},
    }


class OutboundClient:
    """Blocking form, for sync activities on the worker's thread pool."""

    def __init__(
        self,
        allow: AllowList,
        *,
        user_agent: str,
        limits: Limits | None = None,
        transport: httpx.BaseTransport | None = None,  # tests: httpx.MockTransport
    ) -> None:
        self.allow = allow
        self.limits = limits or Limits()
        self._http = httpx.Client(**_client_options(self.limits, user_agent, transport))

    def request(
        self,
        method: str,
        url: str,
        *,
        content: bytes | None = None,
        headers: dict[str, str] | None = None,
        follow_redirects: bool = True,
        limits: Limits | None = None,
        check_headers: HeaderCheck | None = None,
    ) -> Response:
        """The response; OutboundError when refused, unreachable, too slow or too large.
        `check_headers` may raise OutboundError before the body is read."""
        req = _Request(
            method,
            url,
            content=content,
            headers=headers,
            follow_redirects=follow_redirects,
            limits=limits or self.limits,
            check_headers=check_headers,
        )
        for _hop in req.hops():
            address = checked_address(req.target.hostname, req.target.port, self.allow)
            try:
                with self._http.stream(**req.stream_args(address)) as response:
                    if req.redirected(response):
                        continue
                    body = req.body(response)
                    for chunk in response.iter_bytes():
                        body.add(chunk)
                    return req.result(response, body)
            except httpx.HTTPError as error:
                raise _transport_error(error) from None
        raise req.too_many_redirects()

    def close(self) -> None:
        self._http.close()


class AsyncOutboundClient:
    """Asyncio form, for `async def` activities and the API."""

    def __init__(
        self,
        allow: AllowList,
        *,
        user_agent: str,
        limits: Limits | None = None,
        transport: httpx.AsyncBaseTransport | None = None,  # tests: httpx.MockTransport
    ) -> None:
        self.allow = allow
        self.limits = limits or Limits()
        self._http = httpx.AsyncClient(**_client_options(self.limits, user_agent, transport))

    async def request(
        self,
        method: str,
        url: str,
        *,
        content: bytes | None = None,
        headers: dict[str, str] | None = None,
        follow_redirects: bool = True,
        limits: Limits | None = None,
        check_headers: HeaderCheck | None = None,
    ) -> Response:
        """As `OutboundClient.request`."""
        req = _Request(
            method,
            url,
            content=content,
            headers=headers,
            follow_redirects=follow_redirects,
            limits=limits or self.limits,
            check_headers=check_headers,
        )
        for _hop in req.hops():
            address = await checked_address_async(req.target.hostname, req.target.port, self.allow)
            try:
                async with self._http.stream(**req.stream_args(address)) as response:
                    if req.redirected(response):
                        continue
                    body = req.body(response)
                    async for chunk in response.aiter_bytes():
                        body.add(chunk)
                    return req.result(response, body)
            except httpx.HTTPError as error:
                raise _transport_error(error) from None
        raise req.too_many_redirects()

    async def aclose(self) -> None:
        await self._http.aclose()
