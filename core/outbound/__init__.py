"""The one guard for server-side requests to addresses a tenant chose (DESIGN §11).

Bulk-upload image fetches, export webhook deliveries, compute outputs without a bucket key
and every later outbound delivery go through `OutboundClient` (sync) or
`AsyncOutboundClient`. Before a byte is sent:

- only http(s) URLs with a host;
- the host is resolved once and refused when any of its addresses is private, loopback,
  link-local, multicast, reserved or unspecified, or an IPv6 form that embeds an IPv4
  address (NAT64, 6to4, IPv4-compatible, IPv4-mapped, IPv4-translated), unless
  `OUTBOUND_ALLOWED_HOSTS` names the host or the address;
- the connection goes to the address that was checked (DNS rebinding cannot swap it
  afterwards): the URL is rewritten to the address, with the original Host header and,
  for https, the original name for SNI and certificate verification;
- redirects are followed by hand, each hop checked the same way (GET and HEAD only);
- proxy variables are ignored (a proxy would make the address check meaningless);
- size and time are bounded: connect/read timeouts per step, a deadline for the whole
  request and a byte cap on the body that is read.
"""

from core.outbound.addresses import (
    STRICT,
    AllowList,
    OutboundError,
    allow_list,
    check_url,
    check_url_async,
    checked_address,
    checked_address_async,
    is_public,
)
from core.outbound.client import AsyncOutboundClient, Limits, OutboundClient, Response

__all__ = [
    "STRICT",
    "AllowList",
    "AsyncOutboundClient",
    "Limits",
    "OutboundClient",
    "OutboundError",
    "Response",
    "allow_list",
    "check_url",
    "check_url_async",
    "checked_address",
    "checked_address_async",
    "is_public",
]
