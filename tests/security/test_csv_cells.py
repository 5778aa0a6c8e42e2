"""Every CSV we write escapes cells a spreadsheet would run as formulas (OWASP "CSV
injection"): tenant text starting with =, +, -, @, tab or CR gets a leading `'`; our own
numbers, ids and hashes are written as they are."""

from __future__ import annotations

import csv
import io
from typing import Any

import httpx

from activities.export_checkpoint import Record
from activities.export_zip import MANIFEST_COLUMNS, manifest
from services.export_plan import PlannedImage
from tests.bulk_upload.support import csv_bytes, run_upload
from tests.helpers import Api, UserHandle

FORMULAS = ["=1+1", "+1", "-2", "@SUM(A1)", "\t=cmd", "\r=cmd", '=HYPERLINK("http://x")']


def _item(n: int, text: str) -> PlannedImage:
    return PlannedImage(
        media_id=f"m{n}",
        storage_key=f"media/m{n}/file.png",
        file_name=f"img_{n}.png",
        shot_id=f"s{n}",
        look=text,
        shot_type=text,
        sku=text,
        source_bytes=10,
    )


def test_export_manifest_escapes_tenant_text_and_keeps_numbers() -> None:
    items = [_item(n, text) for n, text in enumerate([*FORMULAS, "plain", ""])]
    records: list[Record | None] = [Record(1, 2048, 64, 32, "ab" * 16) for _ in items]
    data = manifest(items, records)
    assert data == manifest(items, records)  # deterministic: zips stay byte-identical
    rows = list(csv.DictReader(io.StringIO(data.decode(), newline="")))
    assert list(rows[0]) == list(MANIFEST_COLUMNS)
    for row, text in zip(rows, [*FORMULAS, "plain", ""], strict=True):
        expected = "'" + text if text and text[0] in "=+-@\t\r" else text
        assert (row["look"], row["shot_type"], row["sku"]) == (expected,) * 3, row
        assert (row["width"], row["height"], row["bytes"]) == ("64", "32", "2048")


async def test_bulk_upload_error_report_escapes_tenant_text(
    api: Api, user: UserHandle, worker: dict[str, Any]
) -> None:
    # name missing: each row fails, and the report repeats its sku
    skus = ["=1+1", "+1", "-2", "@SUM(A1)", '=HYPERLINK("http://x")', "plain"]
    done = await run_upload(api, user, csv_bytes([[s, "", "", "", "", "", "", ""] for s in skus]))
    assert done["failed_count"] == len(skus), done
    async with httpx.AsyncClient() as plain:
        report = (await plain.get(done["error_report_url"])).text
    lines = list(csv.reader(io.StringIO(report)))
    assert lines[0] == ["row_number", "sku", "field", "message"]
    expected = [("'" + s if s[0] in "=+-@" else s) for s in skus]
    assert [line[1] for line in lines[1:]] == expected
    assert [line[0] for line in lines[1:]] == [str(n) for n in range(2, 2 + len(skus))]
