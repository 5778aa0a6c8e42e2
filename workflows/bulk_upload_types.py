"""Payloads of BulkUploadWorkflow: ids, keys, a cursor and counts (never rows or bytes)."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime


@dataclass(frozen=True)
class BulkUploadCursor:
    """Where a run continues: carried across continue-as-new."""

    plan_key: str  # the chunk plan in the bucket (byte ranges, duplicate SKUs)
    total_rows: int
    chunk_count: int
    image_chunks: list[int]  # chunks with at least one image URL (the others skip fetching)
    next_chunk: int = 0
    processed: int = 0
    created: int = 0
    updated: int = 0
    failed: int = 0
    runs: int = 1  # how many runs (continue-as-new) the upload has taken so far
    # The upload's deadline (BULK_UPLOAD_DEADLINE_SECONDS from when it started running),
    # the same in every run; None: planned before deadlines existed.
    deadline_at: datetime | None = None
    deadline_seconds: int | None = None


@dataclass(frozen=True)
class BulkUploadInput:
    bulk_upload_id: str
    chunk_rows: int = 5000
    cursor: BulkUploadCursor | None = None
    # Test knob: continue as new after this many chunks in one run (production relies on
    # the server's suggestion, `is_continue_as_new_suggested()`).
    continue_as_new_every: int | None = None
    # The run's one-line summary, carried so continued runs can show it (run_status.show).
    label: str | None = None


@dataclass
class BulkUploadProgress:
    """What the `progress` query answers."""

    status: str = "pending"
    total_rows: int = 0
    processed_rows: int = 0
    created: int = 0
    updated: int = 0
    failed: int = 0
    chunk: int = 0
    chunk_count: int = 0
    runs: int = 1


@dataclass(frozen=True)
class PlanInput:
    bulk_upload_id: str
    chunk_rows: int


@dataclass(frozen=True)
class PlanResult:
    status: str  # the upload's status: running, or already final (nothing to do)
    plan_key: str | None = None
    total_rows: int = 0
    chunk_count: int = 0
    image_chunks: list[int] = field(default_factory=list)
    deadline_at: datetime | None = None
    deadline_seconds: int | None = None


@dataclass(frozen=True)
class FetchImagesInput:
    bulk_upload_id: str
    plan_key: str
    chunk: int


@dataclass(frozen=True)
class ApplyChunkInput:
    bulk_upload_id: str
    plan_key: str
    chunk: int
    images_key: str | None  # the chunk's image manifest (None: the chunk names no image)
    announce: bool  # publish a bulk_upload.progress event after it


@dataclass(frozen=True)
class ChunkResult:
    """The upload's counts after the chunk (read under the row lock)."""

    processed: int
    created: int
    updated: int
    failed: int
    stopped: bool = False  # the upload was cancelled (or finished) meanwhile: stop


@dataclass(frozen=True)
class FinishInput:
    bulk_upload_id: str
    status: str  # completed | failed | cancelled
    error_message: str | None = None
