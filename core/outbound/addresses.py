"""Which addresses a server-side request may reach, and the URL pinned to the checked one.

See `core/outbound/__init__.py` for the rules; this module holds the address policy (no I/O
but name resolution), `client.py` the HTTP clients that apply it at every hop.
"""

from __future__ import annotations

import asyncio
import ipaddress
import socket
from collections.abc import Iterable
from dataclasses import dataclass
from urllib.parse import urlsplit, urlunsplit

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network
AddrInfo = tuple[object, object, object, object, tuple[object, ...]]

# IPv6 ranges that carry an IPv4 address inside: reaching them may reach that IPv4 host
# (through a NAT64 gateway, a 6to4 relay or the kernel's mapping), so they are refused as
# a whole rather than trusted to be decoded correctly.
_EMBEDDED_IPV4 = tuple(
    ipaddress.ip_network(n)
    for n in (
        "64:ff9b::/96",  # NAT64 well-known prefix (RFC 6052)
        "64:ff9b:1::/48",  # local-use NAT64 (RFC 8215)
        "2002::/16",  # 6to4 (RFC 3056)
        "::/96",  # IPv4-compatible (deprecated, RFC 4291)
        "::ffff:0:0/96",  # IPv4-mapped
        "::ffff:0:0:0/96",  # IPv4-translated (RFC 2765)
        "2001::/32",  # Teredo: embeds the client's IPv4 (RFC 4380)
    )
)


class OutboundError(Exception):
    """A request the guard refused or that could not complete.

    `kind` is one of `invalid` (not an http(s) URL), `refused` (not a public address),
    `unresolved`, `timeout`, `unreachable`, `too_large`, `redirects`, or a caller's own
    (`rejected`, `status`); `transient` says whether trying again later may succeed.
    """

    def __init__(self, message: str, *, kind: str, transient: bool = False) -> None:
        super().__init__(message)
        self.message = message
        self.kind = kind
        self.transient = transient


@dataclass(frozen=True)
class AllowList:
    """Private hosts or networks the server may reach anyway (tests, an internal DAM)."""

    hosts: frozenset[str] = frozenset()
    networks: tuple[IPNetwork, ...] = ()

    @classmethod
    def parse(cls, *values: str) -> AllowList:
        """From comma-separated host names, addresses or CIDRs (several settings merge)."""
        hosts, networks = set(), []
        for value in values:
            for item in (i.strip().lower() for i in (value or "").split(",")):
                if not item:
                    continue
                try:
                    networks.append(ipaddress.ip_network(item.strip("[]"), strict=False))
                except ValueError:
                    hosts.add(item.rstrip("."))
        return cls(frozenset(hosts), tuple(networks))

    def allows(self, hostname: str, address: IPAddress) -> bool:
        return hostname.lower().rstrip(".") in self.hosts or any(
            address in network for network in self.networks
        )


STRICT = AllowList()  # nothing private allowed


def allow_list(settings: object) -> AllowList:
    """The allow list of the settings (`BULK_UPLOAD_ALLOWED_HOSTS` is its older name)."""
    return AllowList.parse(
        getattr(settings, "OUTBOUND_ALLOWED_HOSTS", ""),
        getattr(settings, "BULK_UPLOAD_ALLOWED_HOSTS", ""),
    )


def is_public(address: IPAddress) -> bool:
    """Whether an address is on the public internet (and not one we refuse anyway)."""
    if isinstance(address, ipaddress.IPv6Address) and any(
        address in network for network in _EMBEDDED_IPV4
    ):
        return False
    return (
        address.is_global
        and not address.is_multicast
        and not address.is_reserved
        and not address.is_link_local
        and not address.is_loopback
        and not address.is_unspecified
    )


def _unresolved(hostname: str) -> OutboundError:
    return OutboundError(
        f"host {hostname} could not be resolved", kind="unresolved", transient=True
    )


def _checked(hostname: str, infos: Iterable[AddrInfo], allow: AllowList) -> IPAddress:
    addresses = [ipaddress.ip_address(str(info[4][0]).split("%")[0]) for info in infos]
    if not addresses:
        raise _unresolved(hostname)
    for address in addresses:
        if not is_public(address) and not allow.allows(hostname, address):
            # The address itself stays out of the message: it would map internal DNS.
            raise OutboundError(
                f"refused: {hostname} resolves to a non-public address", kind="refused"
            )
    return addresses[0]


def checked_address(hostname: str, port: int, allow: AllowList) -> IPAddress:
    """The address to connect to; OutboundError when the host resolves anywhere it must not."""
    try:
        infos = socket.getaddrinfo(hostname, port, type=socket.SOCK_STREAM)
    except (socket.gaierror, UnicodeError):
        raise _unresolved(hostname) from None
    return _checked(hostname, infos, allow)


async def checked_address_async(hostname: str, port: int, allow: AllowList) -> IPAddress:
    """As `checked_address`, resolving without blocking the event loop."""
    try:
        infos = await asyncio.get_running_loop().getaddrinfo(
            hostname, port, type=socket.SOCK_STREAM
        )
    except (socket.gaierror, UnicodeError):
        raise _unresolved(hostname) from None
    return _checked(hostname, infos, allow)


@dataclass(frozen=True)
class Target:
    hostname: str
    port: int
    scheme: str
    path: str
    query: str


def parse_url(url: str) -> Target:
    """The parts of an http(s) URL the guard needs; OutboundError for anything else."""
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError:
        raise OutboundError("must be a valid http(s) URL", kind="invalid") from None
    scheme = parts.scheme.lower()
    if scheme not in ("http", "https") or not parts.hostname:
        raise OutboundError("must be an http(s) URL", kind="invalid")
    if parts.username or parts.password:
        raise OutboundError("must not carry credentials", kind="invalid")
    port = port or (443 if scheme == "https" else 80)
    return Target(parts.hostname, port, scheme, parts.path or "/", parts.query)


def check_url(url: str, allow: AllowList) -> None:
    """Validate a target when a tenant gives it (e.g. a webhook URL): OutboundError if it
    is not an http(s) URL whose host resolves to public addresses only."""
    target = parse_url(url)
    checked_address(target.hostname, target.port, allow)


async def check_url_async(url: str, allow: AllowList) -> None:
    """As `check_url`, without blocking the event loop (the API's form)."""
    target = parse_url(url)
    await checked_address_async(target.hostname, target.port, allow)


@dataclass(frozen=True)
class _Pinned:
    url: str
    headers: dict[str, str]
    extensions: dict[str, str]


def pin(target: Target, address: IPAddress) -> _Pinned:
    """The request rewritten to the checked address, with the Host header and TLS name."""
    host = f"[{address}]" if address.version == 6 else str(address)
    url = urlunsplit((target.scheme, f"{host}:{target.port}", target.path, target.query, ""))
    default_port = target.port == (443 if target.scheme == "https" else 80)
    name = f"[{target.hostname}]" if ":" in target.hostname else target.hostname
    host_header = name if default_port else f"{name}:{target.port}"
    extensions = {"sni_hostname": target.hostname} if target.scheme == "https" else {}
    return _Pinned(url, {"Host": host_header}, extensions)
