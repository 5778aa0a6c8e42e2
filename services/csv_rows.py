"""The product CSV of bulk uploads: header and row rules, and byte-exact record reading.

Pure functions over bytes and strings (no I/O), shared by the API (header check at upload)
and the activities (planning and chunk processing).

Row numbers are spreadsheet row numbers: the header is row 1, the first record row 2; a
quoted field may span lines, so a row number counts records, not lines. A record whose cells
are all empty is skipped (spreadsheets export trailing empty rows) but keeps its number.

Records are read with their byte offsets, so a plan can cut the file into chunks that a
ranged GET reads back exactly: `csv.reader` pulls a line only when the record needs it and
never reads ahead, so the bytes consumed after each record end exactly at that record.
"""

from __future__ import annotations

import codecs
import csv
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from urllib.parse import urlsplit

COLUMNS = (
    "sku",
    "name",
    "product_family",
    "product_type",
    "description",
    "cover_image_url",
    "back_image_url",
    "tags",
)
REQUIRED = ("sku", "name")
IMAGE_COLUMNS = ("cover_image_url", "back_image_url")
# Column limits follow the product table.
MAX_LENGTH = {
    "sku": 128,
    "name": 255,
    "product_family": 64,
    "product_type": 64,
    "description": 10_000,
    "cover_image_url": 2048,
    "back_image_url": 2048,
}
MAX_TAGS = 100
MAX_TAG_LENGTH = 64
TAG_SEPARATORS = ("|", ",")  # "summer|linen" or, quoted, "summer, linen"
BOM = b"\xef\xbb\xbf"
# The csv module's default field limit (128 KiB) is below a legitimate quoted description
# with some slack; anything larger is a broken quote swallowing the file.
FIELD_SIZE_LIMIT = 1024 * 1024

csv.field_size_limit(FIELD_SIZE_LIMIT)


class CsvFileError(ValueError):
    """The file as a whole cannot be read (encoding, syntax, header); the message says why."""


# -- header ---------------------------------------------------------------------------------


def parse_header(fields: list[str]) -> list[str]:
    """The canonical column names of a header row; CsvFileError naming the problem."""
    if not fields or all(not f.strip() for f in fields):
        raise CsvFileError("The CSV has no header row")
    names = [f.strip().lstrip("\ufeff").strip().lower() for f in fields]
    if len(names) == 1 and ";" in names[0]:
        raise CsvFileError(
            f"The header has a single column {fields[0]!r}: separate columns with commas"
        )
    seen: set[str] = set()
    for position, name in enumerate(names, start=1):
        if not name:
            raise CsvFileError(f"Column {position} of the header has no name")
        if name in seen:
            raise CsvFileError(f"Duplicated column: {name}")
        seen.add(name)
        if name not in COLUMNS:
            raise CsvFileError(f"Unknown column: {name} (allowed: {', '.join(COLUMNS)})")
    for name in REQUIRED:
        if name not in seen:
            raise CsvFileError(f"Missing required column: {name}")
    return names


def header_from_prefix(prefix: bytes, *, whole_file: bool) -> list[str]:
    """The header of a file from its first bytes (`whole_file`: the prefix is the file)."""
    if not prefix.strip():
        raise CsvFileError("The file is empty")
    reader = RecordReader([prefix])
    first = next(iter(reader), None)
    if first is None:
        raise CsvFileError("The CSV has no header row")
    if not whole_file and first.end == len(prefix) and not prefix.endswith(b"\n"):
        raise CsvFileError("The header row is too long")
    return parse_header(first.fields)


# -- records with byte offsets ------------------------------------------------------------


def iter_lines(chunks: Iterable[bytes]) -> Iterator[bytes]:
    """Lines of a byte stream, each with its line ending (the last one may have none)."""
    pending = b""
    for chunk in chunks:
        if not chunk:
            continue
        pending += chunk
        start = 0
        while (newline := pending.find(b"\n", start)) != -1:
            yield pending[start : newline + 1]
            start = newline + 1
        pending = pending[start:]
    if pending:
        yield pending


@dataclass(frozen=True, slots=True)
class Record:
    fields: list[str]
    start: int  # byte offset of the record's first byte
    end: int  # byte offset just past its last byte (line ending included)


class RecordReader:
    """CSV records of UTF-8 bytes (optional BOM), with their byte offsets from `base`."""

    def __init__(self, chunks: Iterable[bytes], *, base: int = 0) -> None:
        self._chunks = chunks
        self.position = base
        self._base = base

    def _decoded(self) -> Iterator[str]:
        for number, line in enumerate(iter_lines(self._chunks)):
            offset = self.position
            if number == 0 and self._base == 0 and line.startswith(BOM):
                line_text = line[len(BOM) :]
            else:
                line_text = line
            try:
                text = line_text.decode("utf-8")
            except UnicodeDecodeError as error:
                raise CsvFileError(
                    f"The file is not UTF-8 text (invalid byte at offset {offset + error.start})"
                ) from None
            # Advanced before the reader sees the line: once a record is returned, the
            # position is the end of the last line it consumed.
            self.position += len(line)
            yield text

    def __iter__(self) -> Iterator[Record]:
        reader = csv.reader(self._decoded(), strict=False)
        start = self.position
        while True:
            try:
                fields = next(reader)
            except StopIteration:
                return
            except csv.Error as error:
                raise CsvFileError(f"CSV syntax error near byte {start}: {error}") from None
            yield Record(fields, start, self.position)
            start = self.position


def is_blank(fields: list[str]) -> bool:
    return all(not f.strip() for f in fields)


# -- planning -------------------------------------------------------------------------------


@dataclass
class ChunkPlan:
    """One chunk of records: bytes [start, end) of the file, read back by a ranged GET."""

    index: int
    start: int
    end: int
    first_row: int  # row number of the chunk's first record
    rows: int  # non-blank records in the chunk
    rows_before: int  # non-blank records in earlier chunks (the chunk's place in the count)
    has_images: bool = False
    # row number → the row that used the same SKU first (later occurrences are errors)
    duplicates: dict[int, int] = field(default_factory=dict)


@dataclass
class FilePlan:
    header: list[str]
    total_rows: int
    chunks: list[ChunkPlan]


def plan_file(chunks: Iterable[bytes], *, chunk_rows: int, max_rows: int) -> FilePlan:
    """Read the whole file once: header, row count, chunk byte ranges, duplicate SKUs."""
    records = iter(RecordReader(chunks))
    first = next(records, None)
    if first is None:
        raise CsvFileError("The file is empty")
    header = parse_header(first.fields)
    sku_at = header.index("sku")
    image_at = [header.index(c) for c in IMAGE_COLUMNS if c in header]
    first_seen: dict[str, int] = {}
    plans: list[ChunkPlan] = []
    total = 0
    current: ChunkPlan | None = None
    row_number = 1
    for record in records:
        row_number += 1
        if current is None:
            current = ChunkPlan(len(plans), record.start, record.end, row_number, 0, total)
        current.end = record.end
        if is_blank(record.fields):
            continue
        total += 1
        if total > max_rows:
            raise CsvFileError(f"The file has more than {max_rows} rows; split it")
        current.rows += 1
        sku = record.fields[sku_at].strip() if sku_at < len(record.fields) else ""
        if sku:
            earlier = first_seen.setdefault(sku, row_number)
            if earlier != row_number:
                current.duplicates[row_number] = earlier
        if any(i < len(record.fields) and record.fields[i].strip() for i in image_at):
            current.has_images = True
        if current.rows >= chunk_rows:
            plans.append(current)
            current = None
    if current is not None and current.rows:
        plans.append(current)
    return FilePlan(header=header, total_rows=total, chunks=plans)


def chunk_records(data: bytes, plan: ChunkPlan) -> Iterator[tuple[int, list[str]]]:
    """(row number, fields) of the non-blank records of a chunk's bytes."""
    for number, record in enumerate(RecordReader([data], base=plan.start), start=plan.first_row):
        if not is_blank(record.fields):
            yield number, record.fields


# -- rows -----------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class ProductRow:
    """A valid row. None means "empty cell": an update leaves that field as it was."""

    row_number: int
    sku: str
    name: str
    product_family: str | None = None
    product_type: str | None = None
    description: str | None = None
    cover_image_url: str | None = None
    back_image_url: str | None = None
    tags: list[str] | None = None

    def image_urls(self) -> dict[str, str]:
        """slot → URL of the images this row names."""
        urls = {"cover_image": self.cover_image_url, "back_image": self.back_image_url}
        return {slot: url for slot, url in urls.items() if url}


@dataclass(frozen=True, slots=True)
class RowError:
    row_number: int
    sku: str | None
    field: str | None  # the column at fault; None for the row as a whole
    message: str


def parse_tags(value: str) -> list[str]:
    parts = [value]
    for separator in TAG_SEPARATORS:
        parts = [piece for part in parts for piece in part.split(separator)]
    tags: list[str] = []
    for tag in (p.strip() for p in parts):
        if tag and tag not in tags:
            tags.append(tag)
    return tags


def url_problem(url: str) -> str | None:
    """Why a URL cell cannot be fetched at all (None when it may be tried)."""
    try:
        parts = urlsplit(url)
        parts.port  # noqa: B018 - raises ValueError for a malformed port
    except ValueError:
        return "not a valid URL"
    if parts.scheme.lower() not in ("http", "https"):
        return "must be an http(s) URL"
    if not parts.hostname:
        return "has no host"
    if parts.username or parts.password:
        return "must not contain credentials"
    if any(c.isspace() for c in url):
        return "must not contain spaces (encode them as %20)"
    return None


def validate_row(header: list[str], fields: list[str], row_number: int) -> ProductRow | RowError:
    """A row checked against the column rules (the first problem wins)."""
    values = {name: (fields[i].strip() if i < len(fields) else "") for i, name in enumerate(header)}
    sku = values.get("sku") or None
    error_sku = sku[: MAX_LENGTH["sku"]] if sku else None
    if len(fields) > len(header):
        return RowError(
            row_number,
            error_sku,
            None,
            f"row has {len(fields)} values but the header has {len(header)} columns",
        )
    for name in REQUIRED:
        if not values.get(name):
            return RowError(row_number, error_sku, name, f"{name} is required")
    for name, limit in MAX_LENGTH.items():
        if len(values.get(name, "")) > limit:
            return RowError(
                row_number, error_sku, name, f"{name} is longer than {limit} characters"
            )
    for name in IMAGE_COLUMNS:
        url = values.get(name)
        if url and (problem := url_problem(url)):
            return RowError(row_number, error_sku, name, f"{name} {problem}")
    tags = parse_tags(values["tags"]) if values.get("tags") else None
    if tags is not None:
        if len(tags) > MAX_TAGS:
            return RowError(row_number, error_sku, "tags", f"more than {MAX_TAGS} tags")
        if any(len(t) > MAX_TAG_LENGTH for t in tags):
            return RowError(
                row_number, error_sku, "tags", f"a tag is longer than {MAX_TAG_LENGTH} characters"
            )
    assert sku is not None
    return ProductRow(
        row_number=row_number,
        sku=sku,
        name=values["name"],
        product_family=values.get("product_family") or None,
        product_type=values.get("product_type") or None,
        description=values.get("description") or None,
        cover_image_url=values.get("cover_image_url") or None,
        back_image_url=values.get("back_image_url") or None,
        tags=tags or None,
    )


def check_utf8(blocks: Iterable[bytes]) -> int:
    """The size of a byte stream; CsvFileError at the first byte that is not UTF-8."""
    decoder = codecs.getincrementaldecoder("utf-8")("strict")
    size = 0
    for block in blocks:
        try:
            decoder.decode(block)
        except UnicodeDecodeError as error:
            raise CsvFileError(
                f"The file is not UTF-8 text (invalid byte near offset {size + error.start}); "
                "save it as CSV UTF-8"
            ) from None
        size += len(block)
    try:
        decoder.decode(b"", final=True)
    except UnicodeDecodeError:
        raise CsvFileError("The file is not UTF-8 text (it ends inside a character)") from None
    return size
