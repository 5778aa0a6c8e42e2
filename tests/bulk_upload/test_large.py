"""10,000 rows with 1 % bad ones: exact counts and report, a rerun only updates; wall time
and peak memory of the upload are printed (run with -s), not asserted."""

from __future__ import annotations

import csv
import io
import os
import resource
import time
from typing import Any

import httpx
from fastapi import FastAPI

from devstack.memory import PeakRss
from tests.bulk_upload.support import all_errors, csv_bytes, run_upload
from tests.helpers import Api, UserHandle

ROWS = 10_000
BAD_EVERY = 100  # row i with i % 100 == 50 is bad: 100 bad rows


def _rows() -> tuple[list[list[str]], dict[int, tuple[str | None, str]]]:
    """The rows, and the planted errors by row number (header = row 1)."""
    rows, planted = [], {}
    for i in range(ROWS):
        row = [
            f"SKU-{i:05d}",
            f"Product {i}",
            "apparel",
            "dress",
            f"Description of {i}",
            "",
            "",
            "a|b",
        ]
        if i % BAD_EVERY == 50:
            kind = (i // BAD_EVERY) % 4
            if kind == 0:
                row[1] = ""
                planted[i + 2] = ("name", "name is required")
            elif kind == 1:
                row[0] = f"SKU-{i - 1:05d}"
                planted[i + 2] = (
                    "sku",
                    f"duplicate sku 'SKU-{i - 1:05d}': already used on row {i + 1}",
                )
            elif kind == 2:
                row[5] = "mailto:someone@example.com"
                planted[i + 2] = ("cover_image_url", "cover_image_url must be an http(s) URL")
            else:
                row.append("extra")
                planted[i + 2] = (None, "row has 9 values but the header has 8 columns")
        rows.append(row)
    return rows, planted


async def test_ten_thousand_rows_exact_counts_report_and_rerun(
    api: Api, user: UserHandle, worker: dict[str, Any], app: FastAPI
) -> None:
    rows, planted = _rows()
    data = csv_bytes(rows)
    with PeakRss(os.getpid()) as rss:
        began = time.perf_counter()
        done = await run_upload(api, user, data, within=600)
        elapsed = time.perf_counter() - began
    assert done["status"] == "completed", done
    assert done["total_rows"] == ROWS
    assert (done["created_count"], done["updated_count"], done["failed_count"]) == (9_900, 0, 100)

    errors = await all_errors(api, user, done["id"])
    assert {e["row_number"]: (e["field"], e["message"]) for e in errors} == planted
    async with httpx.AsyncClient() as plain:
        report = (await plain.get(done["error_report_url"])).text
    lines = list(csv.reader(io.StringIO(report)))
    assert lines[0] == ["row_number", "sku", "field", "message"]
    assert len(lines) == 101
    assert {int(line[0]): (line[2] or None, line[3]) for line in lines[1:]} == planted

    began = time.perf_counter()
    again = await run_upload(api, user, data, within=600)
    rerun = time.perf_counter() - began
    assert (again["created_count"], again["updated_count"], again["failed_count"]) == (
        0,
        9_900,
        100,
    )

    mib = 1024 * 1024
    print(
        f"\n10k-row bulk upload ({len(data) / mib:.1f} MiB CSV): {elapsed:.2f} s "
        f"(rerun, all updates: {rerun:.2f} s); RSS of the API+worker test process "
        f"{rss.before / mib:.0f} → peak {rss.peak / mib:.0f} MiB "
        f"(+{(rss.peak - rss.before) / mib:.0f} MiB); "
        f"ru_maxrss {resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024:.0f} MiB"
    )
