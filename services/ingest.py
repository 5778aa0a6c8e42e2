"""Putting image bytes into the store as media (blocking: boto3 and Pillow).

One path for every source (presigned uploads: services/uploads.py; URLs of a CSV:
activities/bulk_upload.py; compute outputs: activities/generation_outputs.py): refuse a
pixel bomb, read the facts, convert non-sRGB colour profiles to sRGB, address the bytes by
MD5, and write them once at `media/{id}/file.{ext}` where the id derives from (scope, hash).
The same bytes in the same scope always give the same media id and key, so a retried
caller finds its object instead of writing another.
"""

from __future__ import annotations

import functools
import io
import struct
import uuid

from PIL import Image, ImageCms

from core.storage import ObjectStore, media_key
from services import images
from services.errors import BadRequest
from services.media import StoredFile, media_id_for

SRGB_NAMES = ("srgb", "s rgb")
_SAVE_FORMAT = {"jpg": "JPEG", "png": "PNG", "webp": "WEBP"}


@functools.cache
def _srgb_icc() -> bytes:
    """The sRGB profile embedded in converted images, the same bytes every time.

    littlecms stamps a profile with the time it is written (header bytes 24-35): embedded
    as is, the same image converted a second later had other bytes, another MD5 and
    another media id, so a retried ingest (a compute output's activity after a worker
    crash) wrote a second object instead of finding its own."""
    profile = bytearray(ImageCms.ImageCmsProfile(ImageCms.createProfile("sRGB")).tobytes())
    profile[24:36] = struct.pack(">6H", 2000, 1, 1, 0, 0, 0)
    return bytes(profile)


def _to_srgb(data: bytes, info: images.ImageInfo) -> bytes:
    """Re-encode an image with an embedded non-sRGB ICC profile in sRGB (browsers and
    the CDN assume sRGB; a wide-gamut profile would otherwise shift colours)."""
    if not info.color_profile or any(n in info.color_profile.lower() for n in SRGB_NAMES):
        return data
    with Image.open(io.BytesIO(data)) as image:
        icc = image.info.get("icc_profile")
        if not icc:
            return data
        try:
            source = ImageCms.ImageCmsProfile(io.BytesIO(icc))
            target = ImageCms.createProfile("sRGB")
            mode = "RGBA" if image.mode in ("RGBA", "LA", "P") else "RGB"
            converted = ImageCms.profileToProfile(
                image.convert(mode), source, target, outputMode=mode
            )
        except (ImageCms.PyCMSError, OSError):
            return data  # an unreadable profile: keep the bytes as they came
        assert converted is not None
        out = io.BytesIO()
        srgb_icc = _srgb_icc()
        fmt = _SAVE_FORMAT[info.extension]
        if fmt == "JPEG":
            converted = converted.convert("RGB")
            converted.save(out, fmt, quality=95, icc_profile=srgb_icc)
        else:
            converted.save(out, fmt, icc_profile=srgb_icc)
        return out.getvalue()


def store_image(
    store: ObjectStore,
    data: bytes,
    *,
    organization_id: uuid.UUID | None,
    owner_id: uuid.UUID | None,
    max_bytes: int = 50 * 1024 * 1024,
) -> StoredFile:
    """Validate, normalise and store image bytes; idempotent for the same bytes and scope."""
    if len(data) > max_bytes:
        raise BadRequest(f"Image is larger than {max_bytes // (1024 * 1024)} MB")
    images.check_pixels(data)  # client bytes: refuse a bomb before anything decodes it
    info = images.analyze(data)
    converted = _to_srgb(data, info)
    if converted is not data:
        data, info = converted, images.analyze(converted)
    content_hash = images.md5_hex(data)
    media_id = media_id_for(
        organization_id=organization_id, owner_id=owner_id, content_hash=content_hash
    )
    key = media_key(media_id, info.extension)
    if store.head(key) is None:
        store.put(key, data, content_type=info.content_type)
    return StoredFile(
        media_id=media_id,
        content_hash=content_hash,
        extension=info.extension,
        content_type=info.content_type,
        file_size=len(data),
        width=info.width,
        height=info.height,
        dominant_color=info.dominant_color,
        color_profile=info.color_profile,
    )
