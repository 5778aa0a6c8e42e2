"""P4: a bulk upload of `rows` products (no images) through the API and the worker, against
Postgres COPY of the same rows into the same table (in another organization), and the
worker process's peak RSS while it runs (sampled every 20 ms).

The baseline's rows are deleted once measured: a baseline leaves nothing behind that the
product would serve or act on later in the run."""

from __future__ import annotations

import asyncio
import csv
import io
import json
import time
import uuid
from datetime import UTC, datetime

from bench.figures import Figure, ratio
from bench.session import Session
from bench.stack import BenchStack, Log
from devstack.database import plain_pg
from devstack.memory import PeakRss

HEADER = ("sku", "name", "product_family", "product_type", "description", "tags")
RSS_GOAL_MIB = 300


def rows_of(count: int, prefix: str = "SKU") -> list[tuple[str, ...]]:
    return [
        (
            f"{prefix}-{i:06d}",
            f"Product {i}",
            "apparel",
            "dress",
            f"Description of product {i}, a long enough sentence to be realistic.",
            "summer|linen",
        )
        for i in range(count)
    ]


def csv_bytes(rows: list[tuple[str, ...]]) -> bytes:
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow(HEADER)
    writer.writerows(rows)
    return out.getvalue().encode()


async def _upload(session: Session, data: bytes, within: float) -> dict[str, object]:
    r = await session.http.post(
        "/bulk-uploads/",
        headers=session.headers,
        params=session.params,
        files={"file": ("products.csv", data, "text/csv")},
    )
    if r.status_code != 202:
        raise RuntimeError(f"POST /bulk-uploads/: {r.status_code} {r.text[:300]}")
    upload_id = r.json()["id"]
    deadline = time.monotonic() + within
    while time.monotonic() < deadline:
        body = await session.get(f"/bulk-uploads/{upload_id}")
        if body["status"] in ("completed", "failed", "cancelled") and body["completed_at"]:
            return body
        await asyncio.sleep(0.25)
    raise RuntimeError(f"bulk upload {upload_id} not finished after {within:.0f}s")


async def _copy(stack: BenchStack, rows: list[tuple[str, ...]], org: str, owner: str) -> float:
    import asyncpg

    now = datetime.now(UTC)
    org_id, owner_id = uuid.UUID(org), uuid.UUID(owner)
    records = [
        (uuid.uuid4(), org_id, owner_id, *row[:5], json.dumps(row[5].split("|")), now, now)
        for row in rows
    ]
    columns = [
        "id",
        "organization_id",
        "owner_id",
        "sku",
        "name",
        "product_family",
        "product_type",
        "description",
        "tags",
        "created_at",
        "updated_at",
    ]
    conn = await asyncpg.connect(plain_pg(stack.settings.DATABASE_URL))
    try:
        began = time.perf_counter()
        # Committed, as the upload's chunks are: the commit is part of the cost.
        async with conn.transaction():
            await conn.copy_records_to_table("product", records=records, columns=columns)
        return time.perf_counter() - began
    finally:
        await conn.close()


async def _delete_copied(stack: BenchStack, org: str) -> None:
    """The baseline's rows (its organization holds nothing else)."""
    import asyncpg

    conn = await asyncpg.connect(plain_pg(stack.settings.DATABASE_URL))
    try:
        await conn.execute("DELETE FROM product WHERE organization_id = $1", uuid.UUID(org))
    finally:
        await conn.close()


async def run(stack: BenchStack, *, rows: int, log: Log) -> None:
    session, other = Session(stack.api_url), Session(stack.api_url)
    try:
        await session.sign_up()
        await other.sign_up()
        data = rows_of(rows)
        payload = csv_bytes(data)
        await stack.before_figure("P4")
        await _upload(session, csv_bytes(rows_of(10, "WARM")), within=60)  # warm-up
        log(f"P4: bulk upload of {rows:,} rows ({len(payload) / 2**20:.1f} MiB CSV)")
        with PeakRss(stack.children["worker"].pid) as rss:
            began = time.perf_counter()
            done = await _upload(session, payload, within=1800)
            ours = time.perf_counter() - began
        if done["status"] != "completed" or done["created_count"] != rows:
            raise RuntimeError(f"bulk upload ended {done}")
        me = await other.get("/users/me")
        log(f"P4: COPY of the same {rows:,} rows")
        bare = await _copy(stack, data, other.org, str(me["id"]))
        peak_mib = rss.peak / 2**20
        stack.record(
            Figure(
                id="P4",
                name=f"bulk upload of {rows:,} rows (no images)",
                unit="rows/s",
                ours=round(rows / ours),
                baseline=round(rows / bare),
                baseline_name="Postgres COPY of the same rows into the same table",
                ratio=ratio(bare, ours),
                goal=f">= 0.2, RSS < {RSS_GOAL_MIB} MB",
                met=bare / ours >= 0.2 and peak_mib < RSS_GOAL_MIB,
                details={
                    "rows": rows,
                    "wall_s": round(ours, 2),
                    "copy_s": round(bare, 3),
                    "worker_rss_before_mib": round(rss.before / 2**20, 1),
                    "worker_rss_peak_mib": round(peak_mib, 1),
                },
            )
        )
    finally:
        if other.org:
            try:
                await _delete_copied(stack, other.org)
            except Exception as error:  # never mask the error that got us here
                log(f"P4: could not delete the baseline's rows: {error!r}")
        await session.close()
        await other.close()
