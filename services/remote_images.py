"""Downloading images named by URL (bulk uploads), safely. Blocking (sync httpx).

The server fetches whatever a CSV names, so every hop is checked before a byte is sent:
http(s) only, the host resolved once and refused when any address is private, loopback,
link-local, reserved or otherwise not global (unless allow-listed), and the connection made
to the address that was checked (DNS rebinding cannot swap it afterwards). Redirects are
followed by hand so each target is checked the same way. Size, time and content type are
bounded.
"""

from __future__ import annotations

import ipaddress
import socket
import time
from dataclasses import dataclass
from urllib.parse import urljoin, urlsplit, urlunsplit

import httpx

CONNECT_TIMEOUT_SECONDS = 5.0
READ_TIMEOUT_SECONDS = 15.0
TOTAL_TIMEOUT_SECONDS = 30.0  # one image, redirects and retries included
MAX_REDIRECTS = 3
ATTEMPTS = 2  # a connection failure, timeout, 429 or 5xx is tried once more
RETRY_DELAY_SECONDS = 0.5

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network


class FetchError(Exception):
    """Why an image could not be fetched: a per-row error, never a failure of the job."""

    def __init__(self, message: str, *, transient: bool = False) -> None:
        super().__init__(message)
        self.message = message
        self.transient = transient


@dataclass(frozen=True)
class AllowList:
    """Private hosts or networks the server may fetch from anyway (e.g. an internal DAM)."""

    hosts: frozenset[str] = frozenset()
    networks: tuple[IPNetwork, ...] = ()

    @classmethod
    def parse(cls, value: str) -> AllowList:
        hosts, networks = set(), []
        for item in (i.strip().lower() for i in value.split(",")):
            if not item:
                continue
            try:
                networks.append(ipaddress.ip_network(item, strict=False))
            except ValueError:
                hosts.add(item.rstrip("."))
        return cls(frozenset(hosts), tuple(networks))

    def allows(self, hostname: str, address: IPAddress) -> bool:
        return hostname.lower().rstrip(".") in self.hosts or any(
            address in network for network in self.networks
        )


def _is_public(address: IPAddress) -> bool:
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        address = address.ipv4_mapped
    return address.is_global and not address.is_multicast


def checked_address(hostname: str, port: int, allow: AllowList) -> IPAddress:
    """The address to connect to; FetchError when the host resolves anywhere it must not."""
    try:
        infos = socket.getaddrinfo(hostname, port, type=socket.SOCK_STREAM)
    except (socket.gaierror, UnicodeError):
        raise FetchError(f"host {hostname} could not be resolved", transient=True) from None
    addresses = [ipaddress.ip_address(info[4][0].split("%")[0]) for info in infos]
    if not addresses:
        raise FetchError(f"host {hostname} could not be resolved", transient=True)
    for address in addresses:
        if not _is_public(address) and not allow.allows(hostname, address):
            raise FetchError(f"refused: {hostname} is a private network address ({address})")
    return addresses[0]


def _pinned(url: str, allow: AllowList) -> tuple[str, dict[str, str], dict[str, str]]:
    """The URL rewritten to the checked address, with the Host header (and TLS name)."""
    parts = urlsplit(url)
    scheme = parts.scheme.lower()
    if scheme not in ("http", "https") or not parts.hostname:
        raise FetchError("must be an http(s) URL")
    port = parts.port or (443 if scheme == "https" else 80)
    address = checked_address(parts.hostname, port, allow)
    host = f"[{address}]" if address.version == 6 else str(address)
    target = urlunsplit((scheme, f"{host}:{port}", parts.path or "/", parts.query, ""))
    default_port = (scheme == "https" and port == 443) or (scheme == "http" and port == 80)
    host_header = parts.hostname if default_port else f"{parts.hostname}:{port}"
    if ":" in parts.hostname:  # an IPv6 literal keeps its brackets in the Host header
        host_header = f"[{parts.hostname}]" + ("" if default_port else f":{port}")
    extensions = {"sni_hostname": parts.hostname} if scheme == "https" else {}
    return target, {"Host": host_header}, extensions


def _read(response: httpx.Response, *, max_bytes: int, deadline: float) -> bytes:
    content_type = response.headers.get("content-type", "").split(";")[0].strip().lower()
    if not content_type.startswith("image/"):
        raise FetchError(f"is not an image (content type {content_type or 'missing'})")
    limit = f"image is larger than {max_bytes / (1024 * 1024):g} MB"
    declared = response.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > max_bytes:
        raise FetchError(limit)
    chunks, size = [], 0
    for chunk in response.iter_bytes():
        size += len(chunk)
        if size > max_bytes:
            raise FetchError(limit)
        if time.monotonic() > deadline:
            raise FetchError("unreachable (download too slow)", transient=True)
        chunks.append(chunk)
    return b"".join(chunks)


def _fetch_once(client: httpx.Client, url: str, *, max_bytes: int, allow: AllowList) -> bytes:
    deadline = time.monotonic() + TOTAL_TIMEOUT_SECONDS
    for _hop in range(MAX_REDIRECTS + 1):
        target, headers, extensions = _pinned(url, allow)
        try:
            with client.stream("GET", target, headers=headers, extensions=extensions) as response:
                if response.is_redirect and response.headers.get("location"):
                    url = urljoin(url, response.headers["location"])
                    continue
                if response.status_code >= 400:
                    transient = response.status_code == 429 or response.status_code >= 500
                    raise FetchError(
                        f"unreachable (HTTP {response.status_code})", transient=transient
                    )
                return _read(response, max_bytes=max_bytes, deadline=deadline)
        except httpx.TimeoutException:
            raise FetchError("unreachable (timed out)", transient=True) from None
        except httpx.TransportError as error:
            raise FetchError(f"unreachable ({type(error).__name__})", transient=True) from None
    raise FetchError(f"more than {MAX_REDIRECTS} redirects")


def fetch_image(client: httpx.Client, url: str, *, max_bytes: int, allow: AllowList) -> bytes:
    """The bytes at `url` (checked as above, private addresses only when `allow` has them);
    FetchError with a message for the row."""
    for attempt in range(1, ATTEMPTS + 1):
        try:
            return _fetch_once(client, url, max_bytes=max_bytes, allow=allow)
        except FetchError as error:
            if not error.transient or attempt == ATTEMPTS:
                raise
        time.sleep(RETRY_DELAY_SECONDS)
    raise AssertionError("unreachable")


def http_client() -> httpx.Client:
    """A client for fetch_image: no automatic redirects (each hop is checked), bounded time."""
    timeout = httpx.Timeout(
        connect=CONNECT_TIMEOUT_SECONDS,
        read=READ_TIMEOUT_SECONDS,
        write=READ_TIMEOUT_SECONDS,
        pool=CONNECT_TIMEOUT_SECONDS,
    )
    return httpx.Client(
        timeout=timeout,
        follow_redirects=False,
        trust_env=False,  # a proxy from the environment would bypass the address check
        headers={"User-Agent": "sartiq-bulk-upload/1.0", "Accept": "image/*"},
    )
