"""Signed file URLs for `<img src>` (DESIGN §8): `/api/v1/files/{id}?exp=…&sig=…`.

A browser cannot send an Authorization header with an image request, and a bearer token in
a query string lands in access logs, proxies and history. Instead the API hands out URLs
signed with HMAC-SHA256 over the media id and an expiry. The expiry is rounded up to a
window, so every response within a window carries byte-identical URLs (browser and CDN
caches keep working) and a URL stays valid between FILE_URL_TTL_SECONDS and that plus one
window. The key is derived from JWT_SECRET, so no new secret has to be managed.
"""

from __future__ import annotations

import hashlib
import hmac
import math
import time
import uuid
from urllib.parse import urlencode

from core.config import Settings, get_settings
from core.webhook_signing import constant_time_equal

PATH = "/api/v1/files/"
_KEY_LABEL = b"sartiq/file-urls/v1"


def _key(settings: Settings) -> bytes:
    return hmac.new(settings.JWT_SECRET.encode(), _KEY_LABEL, hashlib.sha256).digest()


def _signature(settings: Settings, media_id: uuid.UUID | str, expires: int) -> str:
    message = f"{uuid.UUID(str(media_id))}:{expires}".encode()
    return hmac.new(_key(settings), message, hashlib.sha256).hexdigest()


def expiry(settings: Settings, now: float | None = None) -> int:
    window = settings.FILE_URL_WINDOW_SECONDS
    ttl = settings.FILE_URL_TTL_SECONDS
    return math.ceil(((now if now is not None else time.time()) + ttl) / window) * window


def signed_url(
    media_id: uuid.UUID | str, *, settings: Settings | None = None, now: float | None = None
) -> str:
    """The file's URL for `<img src>` (API-relative, like every path we return)."""
    settings = settings or get_settings()
    expires = expiry(settings, now)
    query = urlencode({"exp": expires, "sig": _signature(settings, media_id, expires)})
    return f"{PATH}{media_id}?{query}"


def verify(
    settings: Settings,
    media_id: uuid.UUID,
    expires: int,
    signature: str,
    *,
    now: float | None = None,
) -> bool:
    """Whether the signature is ours for this media and has not expired (constant time)."""
    now = now if now is not None else time.time()
    # Ours never lie further ahead than one TTL and one window.
    if not now <= expires <= now + settings.FILE_URL_TTL_SECONDS + settings.FILE_URL_WINDOW_SECONDS:
        return False
    return constant_time_equal(_signature(settings, media_id, expires), signature)
