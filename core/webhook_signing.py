"""Webhook signatures: Standard Webhooks for what we send, one constant-time comparison.

Outbound deliveries follow the Standard Webhooks specification (DESIGN §12,
https://www.standardwebhooks.com/): headers `webhook-id` (stable across retries of one
message), `webhook-timestamp` (integer Unix seconds of the attempt) and `webhook-signature`
(`v1,<base64 HMAC-SHA256 of "{id}.{timestamp}.{body}">`, several separated by spaces).

The key: a secret `whsec_<base64>` is the specification's serialization, so its key is the
decoded bytes (a receiver passes it as is: `standardwebhooks.Webhook(secret)`); any other
secret, such as the 8-255 character string a tenant gives an export webhook, keys the HMAC
with its UTF-8 bytes (a receiver passes `Webhook(secret.encode())`). Bytes are used as given.

Why not the `standardwebhooks` package for producing: its `Webhook.sign` takes the body as a
`str` and UTF-8-encodes it (and `verify` UTF-8-decodes it), so it cannot sign or check a
binary body such as the export webhook's multipart with the image bytes; the specification
signs the raw body, which takes the few lines below. The tests check both directions against
the package on text bodies.

Every signature check in the backend compares through `constant_time_equal` (bytes: hmac's
`compare_digest` raises TypeError on a non-ASCII `str`, and a header may carry anything).
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import time
from collections.abc import Mapping

ID_HEADER = "webhook-id"
TIMESTAMP_HEADER = "webhook-timestamp"
SIGNATURE_HEADER = "webhook-signature"
SECRET_PREFIX = "whsec_"
VERSION = "v1"
# The specification's replay window: a receiver refuses a timestamp further off than this.
TOLERANCE_SECONDS = 5 * 60


def _as_bytes(value: bytes | str) -> bytes:
    # surrogatepass: injective for every str, so two different inputs never compare equal.
    return value if isinstance(value, bytes) else value.encode("utf-8", "surrogatepass")


def constant_time_equal(expected: bytes | str, given: bytes | str | None) -> bool:
    """Whether `given` (a header or query value: anything at all) equals `expected`."""
    if given is None:
        return False
    return hmac.compare_digest(_as_bytes(expected), _as_bytes(given))


def signing_key(secret: bytes | str) -> bytes:
    """The HMAC key of a secret (see the module docstring)."""
    if isinstance(secret, bytes):
        return secret
    if secret.startswith(SECRET_PREFIX):
        try:
            # Like the reference library: padding may be left out.
            key = base64.b64decode(secret[len(SECRET_PREFIX) :] + "==")
        except (binascii.Error, ValueError):
            key = b""
        if key:
            return key
    return secret.encode()


def hex_signature(secret: bytes | str, body: bytes) -> str:
    """`sha256=<hex HMAC-SHA256 of body>`: our older single-header scheme (the compute
    webhook's `X-Compute-Signature`, the export webhook's `X-Sartiq-Signature`), keyed by
    the secret's UTF-8 bytes."""
    return "sha256=" + hmac.new(_as_bytes(secret), body, hashlib.sha256).hexdigest()


def verify_hex_signature(secret: bytes | str, body: bytes, header: str | None) -> bool:
    """Whether a `sha256=<hex>` header signs exactly `body` (hex digits in either case)."""
    if not header:
        return False
    return constant_time_equal(hex_signature(secret, body), header.strip().lower())


def sign(secret: bytes | str, msg_id: str, timestamp: int, body: bytes) -> str:
    """One `webhook-signature` value: `v1,<base64>`."""
    content = f"{msg_id}.{timestamp}.".encode() + body
    digest = hmac.new(signing_key(secret), content, hashlib.sha256).digest()
    return f"{VERSION},{base64.b64encode(digest).decode()}"


def headers(
    secret: bytes | str, msg_id: str, body: bytes, *, timestamp: int | None = None
) -> dict[str, str]:
    """The three Standard Webhooks headers of one delivery attempt of `body`."""
    ts = int(time.time()) if timestamp is None else timestamp
    return {
        ID_HEADER: msg_id,
        TIMESTAMP_HEADER: str(ts),
        SIGNATURE_HEADER: sign(secret, msg_id, ts, body),
    }


def verify(
    secret: bytes | str,
    body: bytes,
    received: Mapping[str, str],
    *,
    now: float | None = None,
    tolerance_seconds: int = TOLERANCE_SECONDS,
) -> bool:
    """What a receiver does: the headers are present, the timestamp is within the tolerance
    and one of the `v1` signatures signs exactly `body`. Never raises on bad input."""
    lowered = {str(k).lower(): v for k, v in received.items()}
    msg_id = lowered.get(ID_HEADER)
    stamp = lowered.get(TIMESTAMP_HEADER)
    signatures = lowered.get(SIGNATURE_HEADER)
    if not (msg_id and stamp and signatures):
        return False
    stamp = stamp.strip()
    if not (stamp.isascii() and stamp.isdigit()):  # int() would take other scripts' digits
        return False
    timestamp = int(stamp)
    current = time.time() if now is None else now
    if abs(current - timestamp) > tolerance_seconds:
        return False
    expected = sign(secret, msg_id, timestamp, body)
    # Check every candidate (no early exit), so timing tells nothing about which matched.
    matched = False
    for candidate in signatures.split(" "):
        matched |= constant_time_equal(expected, candidate.strip())
    return matched
