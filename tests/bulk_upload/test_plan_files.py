"""The plan and image manifest JSON: TypeAdapter round trips that still read what the
hand-written encoders wrote before (a bulk upload in flight across a deploy)."""

from __future__ import annotations

import json
import uuid

from models.media import ResourceType
from services import bulk_upload_files
from services.csv_rows import ChunkPlan, FilePlan
from services.media import StoredFile

ORG = uuid.uuid4()
STORED = StoredFile(
    media_id=uuid.uuid4(),
    content_hash="ab" * 16,
    extension="png",
    content_type="image/png",
    file_size=12,
    width=None,
    height=3,
    dominant_color=None,
)


def _plan() -> FilePlan:
    return FilePlan(
        header=["sku", "name"],
        total_rows=3,
        chunks=[ChunkPlan(0, 10, 90, 2, 3, 0, has_images=True, duplicates={4: 2})],
    )


def test_a_plan_round_trips() -> None:
    data = bulk_upload_files.plan_json(_plan(), source="s", organization_id=ORG, owner_id=None)
    plan = bulk_upload_files.load_plan(data)
    assert plan.organization_id == ORG and plan.owner_id is None
    assert plan.chunks == _plan().chunks and plan.chunks[0].duplicates == {4: 2}


def test_a_plan_written_by_the_former_encoder_still_loads() -> None:
    old = {
        "source_key": "bulk-uploads/x/source.csv",
        "organization_id": str(ORG),
        "owner_id": None,
        "header": ["sku", "name"],
        "total_rows": 3,
        "chunks": [
            {
                "index": 0,
                "start": 10,
                "end": 90,
                "first_row": 2,
                "rows": 3,
                "rows_before": 0,
                "has_images": True,
                "duplicates": {"4": 2},
            }
        ],
    }
    plan = bulk_upload_files.load_plan(json.dumps(old).encode())
    assert plan.chunks == _plan().chunks and plan.source_key == old["source_key"]


def test_a_manifest_round_trips_and_reads_the_former_form() -> None:
    results = {"https://a/1.png": STORED, "https://a/2.png": "unreachable (HTTP 404)"}
    assert bulk_upload_files.load_manifest(bulk_upload_files.manifest_json(results)) == results
    old_stored = {
        **{k: getattr(STORED, k) for k in ("content_hash", "extension", "content_type")},
        "media_id": str(STORED.media_id),
        "file_size": 12,
        "width": None,
        "height": 3,
        "dominant_color": None,
        "color_profile": None,
        "resource_type": ResourceType.IMAGE.value,
    }
    old = {"https://a/1.png": {"stored": old_stored}, "https://a/2.png": {"error": "gone"}}
    loaded = bulk_upload_files.load_manifest(json.dumps(old).encode())
    assert loaded == {"https://a/1.png": STORED, "https://a/2.png": "gone"}
