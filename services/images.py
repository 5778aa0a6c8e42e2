"""Image facts read at ingestion: format, size, dominant colour, colour profile."""

from __future__ import annotations

import hashlib
import io
from dataclasses import dataclass

from PIL import Image, ImageCms, UnidentifiedImageError

from services.errors import BadRequest

# Refuse decompression bombs outright instead of Pillow's warning. Pillow itself only raises
# above twice this and merely warns in between, so `check_pixels` holds uploads to it.
Image.MAX_IMAGE_PIXELS = 64_000_000
TOO_MANY_PIXELS = f"Image has too many pixels (at most {Image.MAX_IMAGE_PIXELS:,})"

FORMATS = {
    "JPEG": ("jpg", "image/jpeg"),
    "PNG": ("png", "image/png"),
    "WEBP": ("webp", "image/webp"),
}


@dataclass(frozen=True)
class ImageInfo:
    extension: str
    content_type: str
    width: int
    height: int
    dominant_color: str
    color_profile: str | None


def md5_hex(data: bytes) -> str:
    # MD5 is the content-addressing key of DOMAIN §4 (dedup), not a security measure.
    return hashlib.md5(data, usedforsecurity=False).hexdigest()


def _dominant_color(image: Image.Image) -> str:
    """The most common colour of a small palette-reduced copy, as #RRGGBB."""
    small = image.convert("RGB").resize((64, 64))
    paletted = small.quantize(colors=8)
    palette = paletted.getpalette() or []
    counts = sorted(paletted.getcolors() or [], reverse=True)
    if not counts:
        return "#000000"
    index = counts[0][1]
    r, g, b = palette[index * 3 : index * 3 + 3]
    return f"#{r:02X}{g:02X}{b:02X}"


def _profile_name(image: Image.Image) -> str | None:
    icc = image.info.get("icc_profile")
    if not icc:
        return None
    try:
        profile = ImageCms.ImageCmsProfile(io.BytesIO(icc))
        return (ImageCms.getProfileDescription(profile) or "").strip() or "embedded"
    except (OSError, ImageCms.PyCMSError):
        return "unreadable"


def check_pixels(data: bytes) -> None:
    """400 above MAX_IMAGE_PIXELS, from the header alone (nothing is decoded). Without it a
    64-128 Mpx upload only warned and was decoded in full: hundreds of MB from ~80 KB."""
    try:
        with Image.open(io.BytesIO(data)) as image:
            width, height = image.size
    except Image.DecompressionBombError as exc:
        raise BadRequest(TOO_MANY_PIXELS) from exc
    except (UnidentifiedImageError, OSError, SyntaxError) as exc:
        raise BadRequest(f"Not a valid image: {type(exc).__name__}") from exc
    if width * height > Image.MAX_IMAGE_PIXELS:
        raise BadRequest(f"{TOO_MANY_PIXELS}: {width}x{height}")


def analyze(data: bytes) -> ImageInfo:
    """Facts of an image; 400 when the bytes are not a supported image."""
    try:
        with Image.open(io.BytesIO(data)) as image:
            image.verify()
        with Image.open(io.BytesIO(data)) as image:
            kind = image.format or ""
            if kind not in FORMATS:
                raise BadRequest(
                    f"Unsupported image format {kind or 'unknown'}; use JPEG, PNG or WEBP"
                )
            extension, content_type = FORMATS[kind]
            return ImageInfo(
                extension=extension,
                content_type=content_type,
                width=image.width,
                height=image.height,
                dominant_color=_dominant_color(image),
                color_profile=_profile_name(image),
            )
    except Image.DecompressionBombError as exc:
        raise BadRequest(TOO_MANY_PIXELS) from exc
    except (UnidentifiedImageError, OSError, SyntaxError) as exc:
        raise BadRequest(f"Not a valid image: {type(exc).__name__}") from exc
