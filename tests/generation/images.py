"""Test images the ingest path must treat specially: a wide-gamut ICC profile (built by
hand: Pillow creates only sRGB, LAB and XYZ profiles), CMYK, and a pixel bomb."""

from __future__ import annotations

import io
import struct
import zlib

from PIL import Image

WIDE_GAMUT_NAME = "Sartiq Test Wide Gamut RGB"
# Adobe RGB (1998) primaries adapted to D50, the PCS white, with a 2.2 gamma.
_COLORANTS = {
    b"rXYZ": (0.60974, 0.31111, 0.01947),
    b"gXYZ": (0.20528, 0.62567, 0.06087),
    b"bXYZ": (0.14919, 0.06322, 0.74457),
}
_D50 = (0.9642, 1.0, 0.8249)


def _s15f16(*values: float) -> bytes:
    return b"".join(struct.pack(">i", round(v * 65536)) for v in values)


def _xyz(values: tuple[float, float, float]) -> bytes:
    return b"XYZ \0\0\0\0" + _s15f16(*values)


def _desc(text: str) -> bytes:
    ascii_text = text.encode() + b"\0"
    # textDescriptionType (ICC v2): ASCII, then empty Unicode and ScriptCode records.
    return (
        b"desc\0\0\0\0"
        + struct.pack(">I", len(ascii_text))
        + ascii_text
        + struct.pack(">II", 0, 0)
        + struct.pack(">HB", 0, 0)
        + b"\0" * 67
    )


def wide_gamut_icc() -> bytes:
    """An ICC v2 RGB display profile (matrix + gamma) that is not sRGB."""
    gamma = b"curv\0\0\0\0" + struct.pack(">IH", 1, round(2.2 * 256)) + b"\0\0"
    tags = [
        (b"desc", _desc(WIDE_GAMUT_NAME)),
        (b"cprt", b"text\0\0\0\0no copyright, test data\0"),
        (b"wtpt", _xyz(_D50)),
        *((sig, _xyz(values)) for sig, values in _COLORANTS.items()),
        (b"rTRC", gamma),
        (b"gTRC", gamma),
        (b"bTRC", gamma),
    ]
    offset = 128 + 4 + 12 * len(tags)
    table, data = b"", b""
    for sig, body in tags:
        padded = body + b"\0" * (-len(body) % 4)
        table += sig + struct.pack(">II", offset + len(data), len(body))
        data += padded
    size = offset + len(data)
    header = (
        struct.pack(">I", size)
        + b"lcms"
        + struct.pack(">I", 0x02100000)
        + b"mntrRGB XYZ "
        + struct.pack(">6H", 2025, 1, 1, 0, 0, 0)
        + b"acsp"
        + b"\0" * 24  # platform, flags, manufacturer, model, attributes
        + struct.pack(">I", 0)  # perceptual
        + _s15f16(*_D50)
        + b"\0" * 48  # creator, profile id, reserved
    )
    assert len(header) == 128
    return header + struct.pack(">I", len(tags)) + table + data


def tagged(
    fmt: str, color: tuple[int, ...] = (20, 190, 60), size: tuple[int, int] = (48, 32)
) -> bytes:
    """An RGB image in the wide-gamut profile (saturated, so conversion moves it)."""
    out = io.BytesIO()
    Image.new("RGB", size, color).save(out, fmt, icc_profile=wide_gamut_icc())
    return out.getvalue()


def cmyk_jpeg(size: tuple[int, int] = (40, 24)) -> bytes:
    out = io.BytesIO()
    Image.new("CMYK", size, (10, 200, 30, 5)).save(out, "JPEG", quality=90)
    return out.getvalue()


def pixel_bomb_png(width: int = 50_000, height: int = 50_000) -> bytes:
    """A valid PNG header claiming width x height (2.5 Gpx), with one tiny IDAT: ~70 bytes
    that would decode to gigabytes."""

    def chunk(kind: bytes, body: bytes) -> bytes:
        return (
            struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))
        )

    ihdr = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", ihdr)
        + chunk(b"IDAT", zlib.compress(b"\0"))
        + chunk(b"IEND", b"")
    )
