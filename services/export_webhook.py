"""The webhook delivery format of exports: one signed multipart POST per image.

Body: `multipart/form-data` with two parts, in this order:
  - `metadata` (application/json): event "export.image", export_id, index, total, file_name,
    shot_id, media_id, look, shot_type, sku, content_type, width, height, bytes, md5;
  - `file` (the image bytes, with `filename` = the exported file name).

Headers:
  - Standard Webhooks (core/webhook_signing.py): `webhook-id: <export id>:<index>` (stable
    across retries, so a receiver can drop a redelivered image), `webhook-timestamp` (the
    attempt's Unix seconds) and `webhook-signature: v1,<base64 HMAC-SHA256 of
    "{id}.{timestamp}.{raw body}">`. The key is the UTF-8 bytes of the export's webhook
    secret, or, for a secret written `whsec_<base64>`, the decoded bytes (the
    specification's form).
  - `X-Sartiq-Event: export.image`.
  - Deprecated, sent beside them for one more release so receivers can move over:
    `X-Sartiq-Signature: sha256=<hex HMAC-SHA256 of the raw body, key = the secret's UTF-8
    bytes>` and `X-Sartiq-Delivery: <export id>:<index>` (the same value as `webhook-id`).

The bytes travel in the request (rather than as a link) so the receiver needs no access to
our bucket and the signature covers the image itself.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

import httpx

from core import webhook_signing

SIGNATURE_HEADER = "X-Sartiq-Signature"  # deprecated: webhook-signature replaces it
EVENT_HEADER = "X-Sartiq-Event"
DELIVERY_HEADER = "X-Sartiq-Delivery"  # deprecated: webhook-id replaces it
EVENT = "export.image"


def signature(body: bytes, secret: str) -> str:
    """The value of the deprecated `X-Sartiq-Signature` header for `body`."""
    return webhook_signing.hex_signature(secret, body)


def verify(body: bytes, secret: str, header: str | None) -> bool:
    """Constant-time check of an `X-Sartiq-Signature` header (what a receiver does); any
    header value, non-ASCII included, is an answer, never an error."""
    return webhook_signing.verify_hex_signature(secret, body, header)


def multipart_body(
    metadata: Mapping[str, Any], file_name: str, content_type: str, data: bytes
) -> tuple[bytes, str]:
    """The request body and its Content-Type (with a fresh boundary), encoded by httpx.

    Built once and sent as bytes: the signature covers exactly these bytes, and a retry
    re-encodes (a new boundary, a new signature)."""
    meta = json.dumps(dict(metadata), separators=(",", ":"), sort_keys=True).encode()
    request = httpx.Request(
        "POST",
        "http://multipart.invalid/",  # never sent: only the encoder is wanted
        files=[
            # No file name: a plain form field, typed so the receiver knows it is JSON.
            ("metadata", (None, meta, "application/json")),
            ("file", (file_name, data, content_type)),
        ],
    )
    return request.read(), request.headers["Content-Type"]


def headers(
    body: bytes,
    secret: str,
    *,
    delivery_id: str,
    content_type: str,
    timestamp: int | None = None,
) -> dict[str, str]:
    """Every header of one delivery attempt of `body`."""
    return {
        "Content-Type": content_type,
        **webhook_signing.headers(secret, delivery_id, body, timestamp=timestamp),
        EVENT_HEADER: EVENT,
        SIGNATURE_HEADER: signature(body, secret),
        DELIVERY_HEADER: delivery_id,
    }
