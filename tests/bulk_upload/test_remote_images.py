"""Bulk-upload image fetches over the outbound guard, without the network."""

from __future__ import annotations

import ipaddress

import httpx
import pytest

from core import outbound
from core.outbound import AllowList, OutboundClient
from services import remote_images
from services.remote_images import FetchError

NONE = AllowList()


def _client(handler: object, allow: AllowList) -> OutboundClient:
    return OutboundClient(
        allow,
        user_agent="test",
        transport=httpx.MockTransport(handler),  # type: ignore[arg-type]
    )


@pytest.mark.parametrize(
    "host",
    [
        "127.0.0.1",
        "localhost",
        "10.1.2.3",
        "172.16.0.1",
        "192.168.1.1",
        "169.254.169.254",  # cloud metadata
        "100.64.0.1",  # carrier-grade NAT
        "0.0.0.0",
        "::1",
        "::ffff:127.0.0.1",
        "fe80::1",
        "fc00::1",
    ],
)
def test_private_addresses_are_refused(host: str) -> None:
    with pytest.raises(FetchError, match="non-public address"):
        outbound.checked_address(host, 80, NONE)


def test_allow_list_by_host_or_network() -> None:
    allow = AllowList.parse(" localhost , 10.0.0.0/8, 192.168.1.7 ")
    assert outbound.checked_address("localhost", 80, allow).is_loopback
    assert outbound.checked_address("10.9.9.9", 80, allow) == ipaddress.ip_address("10.9.9.9")
    assert outbound.checked_address("192.168.1.7", 80, allow)
    with pytest.raises(FetchError):
        outbound.checked_address("192.168.1.8", 80, allow)
    with pytest.raises(FetchError):
        outbound.checked_address("127.0.0.1", 80, AllowList.parse("10.0.0.0/8"))


def test_public_address_passes_and_unresolvable_host_is_an_error() -> None:
    assert outbound.checked_address("93.184.215.14", 443, NONE)
    with pytest.raises(FetchError, match="could not be resolved"):
        outbound.checked_address("no-such-host.invalid", 80, NONE)


def test_requests_go_to_the_checked_address_with_the_original_host() -> None:
    seen: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        if request.url.path == "/old":
            return httpx.Response(301, headers={"Location": "/new"})
        if request.url.path == "/evil":
            return httpx.Response(302, headers={"Location": "http://169.254.169.254/latest"})
        return httpx.Response(200, headers={"Content-Type": "image/png"}, content=b"png")

    allow = AllowList.parse("10.0.0.5")
    client = _client(handler, allow)
    data = remote_images.fetch_image(client, "http://10.0.0.5:8080/old", max_bytes=10)
    assert data == b"png"
    assert [str(r.url) for r in seen] == ["http://10.0.0.5:8080/old", "http://10.0.0.5:8080/new"]
    assert [r.headers["host"] for r in seen] == ["10.0.0.5:8080", "10.0.0.5:8080"]
    # a name is resolved once and the request sent to that address, Host naming the name
    seen.clear()
    local = _client(handler, AllowList.parse("localhost"))
    remote_images.fetch_image(local, "http://localhost:8080/a.png", max_bytes=10)
    assert seen[0].url.host in ("127.0.0.1", "::1")
    assert seen[0].headers["host"] == "localhost:8080"
    # a redirect is checked like the first URL
    with pytest.raises(FetchError, match=r"169\.254\.169\.254 resolves to a non-public"):
        remote_images.fetch_image(client, "http://10.0.0.5/evil", max_bytes=10)


def test_size_and_type_checks() -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        kind = request.url.path.strip("/")
        if kind == "html":
            return httpx.Response(200, headers={"Content-Type": "text/html"}, content=b"<p>")
        if kind == "huge":
            return httpx.Response(200, headers={"Content-Type": "image/png"}, content=b"x" * 100)
        return httpx.Response(404)

    client = _client(handler, AllowList.parse("10.0.0.5"))
    with pytest.raises(FetchError, match="not an image"):
        remote_images.fetch_image(client, "http://10.0.0.5/html", max_bytes=50)
    with pytest.raises(FetchError, match="larger than"):
        remote_images.fetch_image(client, "http://10.0.0.5/huge", max_bytes=50)
    with pytest.raises(FetchError, match=r"HTTP 404"):
        remote_images.fetch_image(client, "http://10.0.0.5/none", max_bytes=50)
