"""A deterministic, streamable ZIP writer (STORED entries, ZIP64 when needed).

Exports stream their archive into a multipart upload and must be able to resume after a
crash from nothing but a small checkpoint, producing the very same bytes. That rules out
`zipfile` (timestamps, data descriptors on unseekable streams, state we cannot rebuild), so
the format is written here, fully determined by (name, bytes) of each entry in order:

- every entry is STORED: images are already compressed, and deflate output could differ
  between zlib builds, which would break byte-identical resumes across workers;
- one fixed timestamp (1980-01-01 00:00, the DOS epoch) and no extra attributes;
- sizes and CRC go in the local header (we hold each entry's bytes before writing it), so
  there are no data descriptors and the central directory needs only (name, crc, size,
  offset) per entry, which is what a checkpoint keeps.
"""

from __future__ import annotations

import struct
import zlib
from collections.abc import Iterable
from dataclasses import dataclass

DOS_TIME = 0  # 00:00:00
DOS_DATE = (0 << 9) | (1 << 5) | 1  # 1980-01-01
LIMIT_32 = 0xFFFFFFFF
LIMIT_16 = 0xFFFF
UTF8_FLAG = 0x0800
VERSION_DEFAULT = 20  # 2.0: stored entries
VERSION_ZIP64 = 45  # 4.5: ZIP64 extensions


@dataclass(frozen=True, slots=True)
class Entry:
    """What the central directory needs to know about one written entry."""

    name: str
    crc: int
    size: int
    offset: int  # of its local header in the archive


def crc32(data: bytes) -> int:
    return zlib.crc32(data) & LIMIT_32


def _name_bytes(name: str) -> tuple[bytes, int]:
    encoded = name.encode("utf-8")
    return encoded, (0 if encoded.isascii() else UTF8_FLAG)


def local_header(name: str, crc: int, size: int, *, force_zip64: bool = False) -> bytes:
    """The local file header of a STORED entry of `size` bytes."""
    encoded, flags = _name_bytes(name)
    zip64 = force_zip64 or size >= LIMIT_32
    extra = struct.pack("<HHQQ", 0x0001, 16, size, size) if zip64 else b""
    stored_size = LIMIT_32 if zip64 else size
    return (
        struct.pack(
            "<IHHHHHIIIHH",
            0x04034B50,
            VERSION_ZIP64 if zip64 else VERSION_DEFAULT,
            flags,
            0,  # STORED
            DOS_TIME,
            DOS_DATE,
            crc,
            stored_size,
            stored_size,
            len(encoded),
            len(extra),
        )
        + encoded
        + extra
    )


def local_header_size(name: str, size: int, *, force_zip64: bool = False) -> int:
    zip64 = force_zip64 or size >= LIMIT_32
    return 30 + len(name.encode("utf-8")) + (20 if zip64 else 0)


def entry_span(name: str, size: int, *, force_zip64: bool = False) -> int:
    """Bytes an entry occupies in the archive: its local header plus its data."""
    return local_header_size(name, size, force_zip64=force_zip64) + size


def _central_header(entry: Entry, *, force_zip64: bool) -> bytes:
    encoded, flags = _name_bytes(entry.name)
    big_size = force_zip64 or entry.size >= LIMIT_32
    big_offset = force_zip64 or entry.offset >= LIMIT_32
    # ZIP64 extra: only the fields whose 32-bit slot overflows, in this fixed order.
    fields = ([entry.size, entry.size] if big_size else []) + ([entry.offset] if big_offset else [])
    extra = struct.pack(f"<HH{len(fields)}Q", 0x0001, 8 * len(fields), *fields) if fields else b""
    version = VERSION_ZIP64 if fields else VERSION_DEFAULT
    return (
        struct.pack(
            "<IHHHHHHIIIHHHHHII",
            0x02014B50,
            version,  # made by (MS-DOS attributes: none set)
            version,  # needed to extract
            flags,
            0,  # STORED
            DOS_TIME,
            DOS_DATE,
            entry.crc,
            LIMIT_32 if big_size else entry.size,
            LIMIT_32 if big_size else entry.size,
            len(encoded),
            len(extra),
            0,  # comment length
            0,  # disk number start
            0,  # internal attributes
            0,  # external attributes
            LIMIT_32 if big_offset else entry.offset,
        )
        + encoded
        + extra
    )


def central_directory(
    entries: Iterable[Entry], cd_offset: int, *, force_zip64: bool = False
) -> bytes:
    """The central directory and end records of an archive whose entries end at
    `cd_offset`: everything that follows the last entry's data."""
    entries = list(entries)
    directory = b"".join(_central_header(e, force_zip64=force_zip64) for e in entries)
    count, cd_size = len(entries), len(directory)
    zip64 = force_zip64 or count >= LIMIT_16 or cd_offset >= LIMIT_32 or cd_size >= LIMIT_32
    tail = b""
    if zip64:
        zip64_eocd_offset = cd_offset + cd_size
        tail += struct.pack(
            "<IQHHIIQQQQ",
            0x06064B50,
            44,  # size of the rest of this record
            VERSION_ZIP64,
            VERSION_ZIP64,
            0,
            0,
            count,
            count,
            cd_size,
            cd_offset,
        )
        tail += struct.pack("<IIQI", 0x07064B50, 0, zip64_eocd_offset, 1)
    tail += struct.pack(
        "<IHHHHIIH",
        0x06054B50,
        0,
        0,
        min(count, LIMIT_16),
        min(count, LIMIT_16),
        min(cd_size, LIMIT_32),
        min(cd_offset, LIMIT_32),
        0,  # comment length
    )
    return directory + tail
