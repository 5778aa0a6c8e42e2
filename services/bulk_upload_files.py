"""A bulk upload's plan and image manifests, as JSON in the bucket under `bulk-uploads/{id}/`.

Both are written by one activity and read by later ones (possibly on another worker), so
they round-trip through pydantic TypeAdapters of the very dataclasses the code uses: one
definition of each shape, validated on the way back in. The JSON is unchanged from the
hand-written form it replaced, so plans written before still load.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from typing import Any

from pydantic import BaseModel, ConfigDict, TypeAdapter

from services import csv_rows
from services import media as media_service


@dataclass(frozen=True)
class StoredPlan:
    source_key: str
    organization_id: uuid.UUID | None
    owner_id: uuid.UUID | None
    header: list[str]
    total_rows: int
    chunks: list[csv_rows.ChunkPlan]


_PLAN = TypeAdapter(StoredPlan)


def plan_json(
    plan: csv_rows.FilePlan, *, source: str, organization_id: Any, owner_id: Any
) -> bytes:
    stored = StoredPlan(
        source_key=source,
        organization_id=uuid.UUID(str(organization_id)) if organization_id else None,
        owner_id=uuid.UUID(str(owner_id)) if owner_id else None,
        header=plan.header,
        total_rows=plan.total_rows,
        chunks=plan.chunks,
    )
    return _PLAN.dump_json(stored)


def load_plan(data: bytes) -> StoredPlan:
    return _PLAN.validate_json(data)


class _ManifestEntry(BaseModel):
    """One URL's outcome: the stored file, or why it could not be fetched."""

    model_config = ConfigDict(frozen=True)

    stored: media_service.StoredFile | None = None
    error: str | None = None


_MANIFEST = TypeAdapter(dict[str, _ManifestEntry])


def manifest_json(results: dict[str, media_service.StoredFile | str]) -> bytes:
    """url → the stored file, or the reason it could not be fetched."""
    entries = {
        url: _ManifestEntry(error=r) if isinstance(r, str) else _ManifestEntry(stored=r)
        for url, r in results.items()
    }
    return _MANIFEST.dump_json(entries)


def load_manifest(data: bytes) -> dict[str, media_service.StoredFile | str]:
    results: dict[str, media_service.StoredFile | str] = {}
    for url, entry in _MANIFEST.validate_json(data).items():
        if entry.stored is not None:
            results[url] = entry.stored
        else:
            results[url] = entry.error or "unknown error"
    return results
