"""Converting and resizing images for an export (blocking: Pillow).

The output must be a pure function of (source bytes, options): a resumed export re-converts
the image it was writing when its worker died and must produce the same bytes again. So
every encoder parameter is explicit and no metadata that varies (timestamps) is written.
"""

from __future__ import annotations

import hashlib
import io
from dataclasses import dataclass

from PIL import Image, ImageOps, UnidentifiedImageError

# Refuse decompression bombs outright (same limit as ingestion).
Image.MAX_IMAGE_PIXELS = 64_000_000

PIL_FORMATS = {"jpg": "JPEG", "png": "PNG", "webp": "WEBP"}
EXTENSIONS = {"JPEG": "jpg", "PNG": "png", "WEBP": "webp"}
CONTENT_TYPES = {"jpg": "image/jpeg", "png": "image/png", "webp": "image/webp"}
ENCODER_OPTIONS: dict[str, dict[str, object]] = {
    "JPEG": {"quality": 92, "optimize": False, "progressive": False, "subsampling": 0},
    "PNG": {"compress_level": 6, "optimize": False},
    "WEBP": {"quality": 92, "method": 4, "lossless": False, "exact": False},
}


class UnreadableImage(Exception):
    """The stored bytes are not an image Pillow can read: skip it, retrying cannot help."""


@dataclass(frozen=True, slots=True)
class Converted:
    data: bytes
    extension: str
    width: int
    height: int

    @property
    def md5(self) -> str:
        # A checksum for the manifest's readers, not a security measure.
        return hashlib.md5(self.data, usedforsecurity=False).hexdigest()


def target_extension(fmt: str, source_extension: str) -> str:
    """The extension an image gets in the export (`original` keeps the source's)."""
    return source_extension.lower() if fmt == "original" else fmt


def _fit(size: tuple[int, int], max_dimension: int | None) -> tuple[int, int] | None:
    """The downscaled size keeping the aspect ratio, or None when it already fits."""
    width, height = size
    if not max_dimension or max(width, height) <= max_dimension:
        return None
    scale = max_dimension / max(width, height)
    return max(1, round(width * scale)), max(1, round(height * scale))


def _prepare_mode(image: Image.Image, pil_format: str) -> Image.Image:
    has_alpha = image.mode in ("RGBA", "LA", "PA") or (
        image.mode == "P" and "transparency" in image.info
    )
    if pil_format == "JPEG":
        if has_alpha:
            # JPEG has no alpha: flatten onto white, as a print would.
            rgba = image.convert("RGBA")
            background = Image.new("RGB", rgba.size, (255, 255, 255))
            background.paste(rgba, mask=rgba.getchannel("A"))
            return background
        return image if image.mode in ("RGB", "L") else image.convert("RGB")
    if has_alpha:
        return image if image.mode == "RGBA" else image.convert("RGBA")
    return image if image.mode in ("RGB", "L") else image.convert("RGB")


def convert(data: bytes, *, fmt: str, max_dimension: int | None) -> Converted:
    """The exported bytes of one image. `original` with nothing to resize returns the source
    bytes untouched, as does a source already in the target format that needs no resize."""
    try:
        with Image.open(io.BytesIO(data)) as opened:
            source_format = opened.format or ""
            if source_format not in EXTENSIONS:
                raise UnreadableImage(f"unsupported image format {source_format or 'unknown'}")
            extension = target_extension(fmt, EXTENSIONS[source_format])
            pil_format = PIL_FORMATS[extension]
            # The longest side does not change with rotation: decide before decoding.
            if _fit(opened.size, max_dimension) is None and pil_format == source_format:
                return Converted(data, extension, opened.width, opened.height)
            icc_profile = opened.info.get("icc_profile")
            image = ImageOps.exif_transpose(opened)  # pixels as viewers show them
            image.load()
    except (UnidentifiedImageError, Image.DecompressionBombError, OSError, SyntaxError) as exc:
        raise UnreadableImage(f"not a readable image: {type(exc).__name__}") from exc
    new_size = _fit(image.size, max_dimension)
    if new_size is not None:
        image = image.resize(new_size, Image.Resampling.LANCZOS)
    image = _prepare_mode(image, pil_format)
    buffer = io.BytesIO()
    options = dict(ENCODER_OPTIONS[pil_format])
    if icc_profile:
        options["icc_profile"] = icc_profile
    image.save(buffer, format=pil_format, **options)
    return Converted(buffer.getvalue(), extension, image.width, image.height)
