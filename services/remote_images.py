"""Images named by URL (bulk uploads): what we accept, over the outbound guard.

The address checks, pinning, redirects and bounds are `core/outbound.py`'s; this module
adds the image policy: an `image/*` content type, the size cap, and one more try for a
failure that may pass (connection error, timeout, 429, 5xx). The client is passed in:
services hold no HTTP clients of their own.
"""

from __future__ import annotations

import time

import httpx

from core.outbound import Limits, OutboundClient, OutboundError

ATTEMPTS = 2  # a connection failure, timeout, 429 or 5xx is tried once more
RETRY_DELAY_SECONDS = 0.5
USER_AGENT = "sartiq-bulk-upload/1.0"
LIMITS = Limits(total_seconds=30.0, connect_seconds=5.0, read_seconds=15.0, max_redirects=3)

# Bulk uploads report these per row; the guard's own messages read well there too.
FetchError = OutboundError


def _image_only(response: httpx.Response) -> None:
    if response.status_code >= 400:
        return  # reported by status below
    content_type = response.headers.get("content-type", "").split(";")[0].strip().lower()
    if not content_type.startswith("image/"):
        raise OutboundError(
            f"is not an image (content type {content_type or 'missing'})", kind="rejected"
        )


def _fetch_once(client: OutboundClient, url: str, *, max_bytes: int) -> bytes:
    try:
        response = client.request(
            "GET",
            url,
            headers={"Accept": "image/*"},
            limits=Limits(**{**LIMITS.__dict__, "max_bytes": max_bytes}),
            check_headers=_image_only,
        )
    except OutboundError as error:
        # The row's reason reads after the column name: "cover_image_url: <reason>".
        if error.kind == "too_large":
            message = f"image is larger than {max_bytes / (1024 * 1024):g} MB"
        elif error.kind == "timeout":
            message = "unreachable (timed out)"
        else:
            raise
        raise OutboundError(message, kind=error.kind, transient=error.transient) from None
    code = response.status_code
    if code >= 300:
        transient = code == 429 or code >= 500
        raise OutboundError(f"unreachable (HTTP {code})", kind="status", transient=transient)
    return response.content


def fetch_image(client: OutboundClient, url: str, *, max_bytes: int) -> bytes:
    """The bytes at `url`; OutboundError with a message for the row."""
    for attempt in range(1, ATTEMPTS + 1):
        try:
            return _fetch_once(client, url, max_bytes=max_bytes)
        except OutboundError as error:
            if not error.transient or attempt == ATTEMPTS:
                raise
        time.sleep(RETRY_DELAY_SECONDS)
    raise AssertionError("unreachable")
