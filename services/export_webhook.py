"""The webhook delivery format of exports: one signed multipart POST per image.

Body: `multipart/form-data` with two parts, in this order:
  - `metadata` (application/json): event "export.image", export_id, index, total, file_name,
    shot_id, media_id, look, shot_type, sku, content_type, width, height, bytes, md5;
  - `file` (the image bytes, with `filename` = the exported file name).
Headers: `X-Sartiq-Signature: sha256=<hex HMAC-SHA256 of the raw body, key = the export's
webhook secret>`, `X-Sartiq-Event: export.image`, and `X-Sartiq-Delivery: <export id>:<index>`,
stable across retries so a receiver can drop a redelivered image.

The bytes travel in the request (rather than as a link) so the receiver needs no access to
our bucket and the signature covers the image itself.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import uuid
from collections.abc import Mapping
from typing import Any

SIGNATURE_HEADER = "X-Sartiq-Signature"
EVENT_HEADER = "X-Sartiq-Event"
DELIVERY_HEADER = "X-Sartiq-Delivery"
EVENT = "export.image"


def signature(body: bytes, secret: str) -> str:
    """The value of the signature header for `body`."""
    digest = hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()
    return f"sha256={digest}"


def verify(body: bytes, secret: str, header: str | None) -> bool:
    """Constant-time check of a signature header (what a receiver does)."""
    return bool(header) and hmac.compare_digest(signature(body, secret), header or "")


def _quoted(value: str) -> str:
    return value.replace("\\", "\\\\").replace('"', '\\"')


def multipart_body(
    metadata: Mapping[str, Any], file_name: str, content_type: str, data: bytes
) -> tuple[bytes, str]:
    """The request body and its Content-Type (with a fresh boundary)."""
    boundary = f"sartiq-{uuid.uuid4().hex}"
    meta = json.dumps(dict(metadata), separators=(",", ":"), sort_keys=True).encode()
    disposition = f'form-data; name="file"; filename="{_quoted(file_name)}"'
    body = b"".join(
        [
            f"--{boundary}\r\n".encode(),
            b'Content-Disposition: form-data; name="metadata"\r\n',
            b"Content-Type: application/json\r\n\r\n",
            meta,
            f"\r\n--{boundary}\r\n".encode(),
            f"Content-Disposition: {disposition}\r\n".encode(),
            f"Content-Type: {content_type}\r\n\r\n".encode(),
            data,
            f"\r\n--{boundary}--\r\n".encode(),
        ]
    )
    return body, f"multipart/form-data; boundary={boundary}"


def headers(body: bytes, secret: str, *, delivery_id: str, content_type: str) -> dict[str, str]:
    return {
        "Content-Type": content_type,
        SIGNATURE_HEADER: signature(body, secret),
        EVENT_HEADER: EVENT,
        DELIVERY_HEADER: delivery_id,
    }
