"""The export archive's checkpoint: what a resumed attempt needs to go on with the very
same bytes (the multipart upload, its parts, and each image's zip record so far). It
travels as heartbeat details, JSON, through a TypeAdapter of one declared shape."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from pydantic import TypeAdapter, ValidationError


@dataclass(slots=True)
class Record:
    crc: int
    size: int
    width: int
    height: int
    md5: str

    def as_tuple(self) -> tuple[int, int, int, int, str]:
        return (self.crc, self.size, self.width, self.height, self.md5)


@dataclass
class Checkpoint:
    upload_id: str
    key: str
    part_size: int
    parts: list[tuple[int, str]] = field(default_factory=list)
    records: list[Record | None] = field(default_factory=list)  # None: image skipped

    @property
    def uploaded(self) -> int:
        return len(self.parts) * self.part_size

    def details(self) -> dict[str, Any]:
        return _DETAILS.dump_python(
            _Details(
                upload_id=self.upload_id,
                key=self.key,
                part_size=self.part_size,
                parts=self.parts,
                next_index=len(self.records),
                records=[r.as_tuple() if r else None for r in self.records],
            ),
            mode="json",
        )

    @classmethod
    def parse(cls, details: Any, *, key: str, part_size: int) -> Checkpoint | None:
        """The checkpoint in heartbeat details, if they hold one for this archive."""
        try:
            parsed = _DETAILS.validate_python(details)
        except ValidationError:
            return None
        if parsed.key != key or parsed.part_size != part_size:
            return None
        return cls(
            upload_id=parsed.upload_id,
            key=key,
            part_size=part_size,
            parts=list(parsed.parts),
            records=[Record(*r) if r is not None else None for r in parsed.records],
        )


# The checkpoint as heartbeat details (JSON): compact records, [crc, size, width, height, md5].
RecordDetails = tuple[int, int, int, int, str]


@dataclass(frozen=True)
class _Details:
    upload_id: str
    key: str
    part_size: int
    parts: list[tuple[int, str]]
    next_index: int
    records: list[RecordDetails | None]


_DETAILS = TypeAdapter(_Details)
