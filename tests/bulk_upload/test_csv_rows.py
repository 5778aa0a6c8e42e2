"""The CSV rules and the byte-exact chunking (pure, no services)."""

from __future__ import annotations

import pytest

from services import csv_rows
from services.csv_rows import CsvFileError, ProductRow, RowError


def _plan(data: bytes, chunk_rows: int = 2, split: int = 7) -> csv_rows.FilePlan:
    # fed in small pieces: lines and records cross the block boundaries
    blocks = [data[i : i + split] for i in range(0, len(data), split)]
    return csv_rows.plan_file(blocks, chunk_rows=chunk_rows, max_rows=1000)


def _read_back(data: bytes, plan: csv_rows.FilePlan) -> list[tuple[int, list[str]]]:
    rows = []
    for chunk in plan.chunks:
        rows.extend(csv_rows.chunk_records(data[chunk.start : chunk.end], chunk))
    return rows


def test_chunks_cover_every_record_exactly_once_with_multiline_fields_and_blanks() -> None:
    data = (
        "\ufeffsku,name,description\r\n"
        'A,Dress,"two\r\nlines, and ""quotes"""\r\n'
        "\r\n"
        ",,\r\n"
        "B,Été,é\r\n"
        "C,Coat,\r\n"
        "D,Hat,last line without newline"
    ).encode()
    plan = _plan(data)
    assert plan.header == ["sku", "name", "description"]
    assert plan.total_rows == 4
    assert [(c.first_row, c.rows, c.rows_before) for c in plan.chunks] == [(2, 2, 0), (6, 2, 2)]
    assert plan.chunks[0].start == len("\ufeffsku,name,description\r\n".encode())
    assert plan.chunks[-1].end == len(data)
    assert _read_back(data, plan) == [
        (2, ["A", "Dress", 'two\r\nlines, and "quotes"']),
        (5, ["B", "Été", "é"]),
        (6, ["C", "Coat", ""]),
        (7, ["D", "Hat", "last line without newline"]),
    ]


def test_duplicate_skus_point_at_the_first_row_and_image_chunks_are_flagged() -> None:
    data = b"sku,name,cover_image_url\nA,1,\nB,2,http://x.example/a.png\nA,3,\n B ,4,\n"
    plan = _plan(data, chunk_rows=2)
    assert [c.duplicates for c in plan.chunks] == [{}, {4: 2, 5: 3}]
    assert [c.has_images for c in plan.chunks] == [True, False]


def test_limits_and_file_errors() -> None:
    with pytest.raises(CsvFileError, match="more than 2 rows"):
        csv_rows.plan_file([b"sku,name\nA,1\nB,2\nC,3\n"], chunk_rows=10, max_rows=2)
    with pytest.raises(CsvFileError, match="not UTF-8"):
        csv_rows.plan_file([b"sku,name\nA,caf\xe9\n"], chunk_rows=10, max_rows=10)
    with pytest.raises(CsvFileError, match="The file is empty"):
        csv_rows.plan_file([b""], chunk_rows=10, max_rows=10)
    with pytest.raises(CsvFileError, match="not UTF-8"):
        csv_rows.check_utf8([b"sku,name\n", b"A,\xff\n"])
    assert csv_rows.check_utf8([b"A,caf\xc3", b"\xa9\n"]) == 8  # a character across blocks
    assert csv_rows.plan_file([b"sku,name\n"], chunk_rows=10, max_rows=10).chunks == []


def test_header_rules() -> None:
    assert csv_rows.header_from_prefix(b"SKU, Name\n", whole_file=True) == ["sku", "name"]
    with pytest.raises(CsvFileError, match="too long"):
        csv_rows.header_from_prefix(b"sku,name," + b"x" * 100, whole_file=False)
    with pytest.raises(CsvFileError, match="Unknown column: price"):
        csv_rows.parse_header(["sku", "name", "price"])


HEADER = list(csv_rows.COLUMNS)


def _row(**values: str) -> list[str]:
    return [values.get(c, "") for c in HEADER]


@pytest.mark.parametrize(
    ("values", "field", "message"),
    [
        ({"name": "x"}, "sku", "sku is required"),
        ({"sku": "A"}, "name", "name is required"),
        ({"sku": "A" * 129, "name": "x"}, "sku", "sku is longer than 128 characters"),
        ({"sku": "A", "name": "x", "product_family": "f" * 65}, "product_family", "longer"),
        (
            {"sku": "A", "name": "x", "cover_image_url": "example.com/a.png"},
            "cover_image_url",
            "http(s)",
        ),
        (
            {"sku": "A", "name": "x", "back_image_url": "javascript:alert(1)"},
            "back_image_url",
            "http(s)",
        ),
        (
            {"sku": "A", "name": "x", "cover_image_url": "http://u:p@example.com/a"},
            "cover_image_url",
            "credentials",
        ),
        (
            {"sku": "A", "name": "x", "cover_image_url": "http://exa mple.com/a"},
            "cover_image_url",
            "spaces",
        ),
        (
            {"sku": "A", "name": "x", "tags": "|".join(str(i) for i in range(101))},
            "tags",
            "more than 100",
        ),
    ],
)
def test_row_errors(values: dict[str, str], field: str, message: str) -> None:
    result = csv_rows.validate_row(HEADER, _row(**values), 7)
    assert isinstance(result, RowError)
    assert (result.row_number, result.field) == (7, field)
    assert message in result.message


def test_valid_row_trims_and_parses_tags() -> None:
    result = csv_rows.validate_row(
        HEADER, _row(sku=" A-1 ", name=" Dress ", tags="summer| linen ,summer,,"), 2
    )
    assert result == ProductRow(row_number=2, sku="A-1", name="Dress", tags=["summer", "linen"])
    short = csv_rows.validate_row(["sku", "name", "tags"], ["B", "Bag"], 3)  # missing cells: empty
    assert short == ProductRow(row_number=3, sku="B", name="Bag")
    too_many = csv_rows.validate_row(["sku", "name"], ["B", "Bag", "x"], 4)
    assert isinstance(too_many, RowError) and too_many.field is None
