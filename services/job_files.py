"""Files long-running jobs keep in the bucket, under `bulk-uploads/{id}/` and `exports/{id}/`:
which ones their job still needs. A bulk upload removes its working files when it ends; the
orphan scan removes whatever is left behind (a worker that died, a job row deleted with its
organization) once it is older than JOB_FILES_MAX_AGE_HOURS.

A bulk upload keeps its source CSV and its error report for as long as its row exists (the
API shows the report); the plan and the image manifests only serve the run. An export keeps
its files for as long as its row exists.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from core.storage import ObjectStore
from models.jobs import JOB_FINAL_STATUSES, BulkUpload, Export

# Orphan-scan phase -> the prefix it sweeps.
PREFIXES = {"bulk": "bulk-uploads/", "exports": "exports/"}
_MODELS: dict[str, Any] = {"bulk": BulkUpload, "exports": Export}


def job_id_of_key(key: str) -> uuid.UUID | None:
    """`bulk-uploads/{id}/…` or `exports/{id}/…` -> id (None outside that layout)."""
    parts = key.split("/")
    if len(parts) < 3:
        return None
    try:
        return uuid.UUID(parts[1])
    except ValueError:
        return None


def is_bulk_working_file(upload: BulkUpload, key: str) -> bool:
    """Under the upload's prefix and neither its source CSV nor its error report."""
    return key.startswith(f"bulk-uploads/{upload.id}/") and key not in (
        upload.source_key,
        upload.error_report_key,
    )


def _needed(phase: str, row: Any, key: str, *, stale_before: datetime) -> bool:
    if row is None:
        return False  # the job is gone (deleted, or its row never committed)
    if phase != "bulk" or not is_bulk_working_file(row, key):
        return True
    # A run still going needs its plan and manifests; one silent for the whole age is dead.
    return row.status not in JOB_FINAL_STATUSES and row.updated_at >= stale_before


async def unneeded(
    session: AsyncSession, phase: str, keys: Sequence[str], *, stale_before: datetime
) -> list[str]:
    """The keys (of one scan phase, already past the age) that no job needs any more."""
    model = _MODELS[phase]
    ids = {key: job_id_of_key(key) for key in keys}
    wanted = {i for i in ids.values() if i is not None}
    rows: dict[uuid.UUID | None, Any] = {}
    if wanted:
        found = await session.scalars(select(model).where(model.id.in_(wanted)))
        rows = {row.id: row for row in found}
    return [
        key
        for key in keys
        if not _needed(phase, rows.get(ids[key]), key, stale_before=stale_before)
    ]


def bulk_working_files(store: ObjectStore, upload: BulkUpload) -> list[str]:
    """The upload's working files in the bucket (blocking: lists its prefix)."""
    paginator = store.client.get_paginator("list_objects_v2")
    keys = [
        item["Key"]
        for page in paginator.paginate(Bucket=store.bucket, Prefix=f"bulk-uploads/{upload.id}/")
        for item in page.get("Contents", [])
    ]
    return [key for key in keys if is_bulk_working_file(upload, key)]
