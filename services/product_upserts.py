"""Set-based product upserts for bulk uploads.

A chunk's rows are COPYed into a temporary staging table, then one INSERT ... SELECT ... ON
CONFLICT per group writes them, on the session's own connection and inside its transaction
(so the chunk stays exactly-once with its counts and row errors). The previous version let
SQLAlchemy's insertmanyvalues compile and bind 13 parameters per row in Python, which was
the largest share of a chunk's CPU (`uv run sartiq bench --only P4`).
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Sequence
from datetime import datetime

from sqlalchemy.ext.asyncio import AsyncSession

from services import csv_rows

STAGING = "bulk_upload_staging"
STAGING_COLUMNS = (
    "sku",
    "name",
    "product_family",
    "product_type",
    "description",
    "tags",
    "cover_image_url",
    "back_image_url",
)
# Rows vanish at commit or rollback: the table is per connection, its rows per transaction.
CREATE_STAGING = f"""
CREATE TEMP TABLE IF NOT EXISTS {STAGING} (
    sku text NOT NULL,
    name text NOT NULL,
    product_family text,
    product_type text,
    description text,
    tags jsonb,
    cover_image_url text,
    back_image_url text
) ON COMMIT DELETE ROWS
"""
# Empty cells never erase a value already there.
KEPT = ("product_family", "product_type", "description", "cover_image_url", "back_image_url")
# The partial unique indexes of the two scopes (see models/product.py).
CONFLICT = {
    True: "(organization_id, sku) WHERE organization_id IS NOT NULL AND sku IS NOT NULL",
    False: "(owner_id, sku) WHERE organization_id IS NULL AND sku IS NOT NULL",
}


def upsert_statement(*, with_tags: bool, organization_scoped: bool) -> str:
    """Tags are replaced only by rows that name some, hence one statement per group.
    Rows go in SKU order: two uploads upserting the same products lock them in one order."""
    sets = ["name = excluded.name", "updated_at = excluded.updated_at"]
    sets += [f"{c} = coalesce(excluded.{c}, product.{c})" for c in KEPT]
    if with_tags:
        sets.append("tags = excluded.tags")
    tags = "s.tags" if with_tags else "'[]'::jsonb"
    return f"""
INSERT INTO product (
    id, organization_id, owner_id, sku, name, product_family, product_type, description,
    tags, cover_image_url, back_image_url, created_at, updated_at
)
SELECT gen_random_uuid(), $1::uuid, $2::uuid, s.sku, s.name, s.product_family,
    s.product_type, s.description, {tags}, s.cover_image_url, s.back_image_url, $3, $3
FROM {STAGING} s
WHERE (s.tags IS NOT NULL) = {"true" if with_tags else "false"}
ORDER BY s.sku
ON CONFLICT {CONFLICT[organization_scoped]} DO UPDATE SET {", ".join(sets)}
RETURNING id, sku, (xmax = 0) AS inserted
"""


def _record(row: csv_rows.ProductRow) -> tuple[str | None, ...]:
    return (
        row.sku,
        row.name,
        row.product_family,
        row.product_type,
        row.description,
        json.dumps(row.tags) if row.tags is not None else None,
        row.cover_image_url,
        row.back_image_url,
    )


async def upsert_products(
    session: AsyncSession,
    rows: Sequence[csv_rows.ProductRow],
    *,
    organization_id: uuid.UUID | None,
    owner_id: uuid.UUID | None,
    now: datetime,
) -> dict[str, tuple[uuid.UUID, bool]]:
    """sku → (product id, created), in the session's transaction."""
    if not rows:
        return {}
    connection = await session.connection()
    driver = (await connection.get_raw_connection()).driver_connection
    # COPY outside the transaction would commit on its own: the caller has begun it.
    if driver is None or not driver.is_in_transaction():
        raise RuntimeError("upsert_products needs a session with an open transaction")
    await driver.execute(CREATE_STAGING)
    await driver.copy_records_to_table(
        STAGING, records=[_record(r) for r in rows], columns=STAGING_COLUMNS
    )
    outcomes: dict[str, tuple[uuid.UUID, bool]] = {}
    groups = {r.tags is not None for r in rows}
    for with_tags in (True, False):
        if with_tags not in groups:
            continue
        statement = upsert_statement(
            with_tags=with_tags, organization_scoped=organization_id is not None
        )
        for record in await driver.fetch(statement, organization_id, owner_id, now):
            outcomes[record["sku"]] = (record["id"], bool(record["inserted"]))
    # The staging rows must not reach the next chunk of this transaction (there is none
    # today; the guard keeps the function safe to call twice).
    await driver.execute(f"DELETE FROM {STAGING}")
    return outcomes
