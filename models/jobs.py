"""Long-running job records: exports, bulk uploads (+ row errors), usage reports."""

from __future__ import annotations

import uuid
from datetime import date, datetime
from enum import StrEnum
from typing import Any

import sqlalchemy as sa
from sqlmodel import Field

from models.base import (
    IdMixin,
    TenantMixin,
    TimestampMixin,
    enum_field,
    json_field,
    tz_datetime,
)


class JobStatus(StrEnum):
    PENDING = "pending"
    RUNNING = "running"
    COMPLETED = "completed"
    FAILED = "failed"
    CANCELLED = "cancelled"


# The statuses a job (export, bulk upload, caption) never leaves once in.
JOB_FINAL_STATUSES = frozenset({JobStatus.COMPLETED, JobStatus.FAILED, JobStatus.CANCELLED})


class ExportFormat(StrEnum):
    ORIGINAL = "original"
    JPG = "jpg"
    PNG = "png"
    WEBP = "webp"


class ExportTarget(StrEnum):
    ZIP = "zip"
    WEBHOOK = "webhook"


class JobMixin(TimestampMixin, TenantMixin):
    status: JobStatus = enum_field(JobStatus, default=JobStatus.PENDING, index=True)
    progress: float = 0.0
    workflow_id: str | None = Field(default=None, max_length=255)
    error_message: str | None = None
    started_at: datetime | None = tz_datetime()
    completed_at: datetime | None = tz_datetime()


# An export of shots' images to a zip in the bucket or to a webhook.
class Export(IdMixin, JobMixin, table=True):
    __tablename__ = "export"
    shooting_id: uuid.UUID | None = Field(
        default=None, foreign_key="shooting.id", ondelete="SET NULL", index=True
    )
    shot_ids: list[str] = json_field()
    only_approved: bool = True
    format: ExportFormat = enum_field(ExportFormat, default=ExportFormat.ORIGINAL)
    max_dimension: int | None = None
    naming_template: str = Field(default="{sku}_{shot_type}_{n}", max_length=255)
    target: ExportTarget = enum_field(ExportTarget, default=ExportTarget.ZIP)
    webhook_url: str | None = Field(default=None, max_length=2048)
    # Never returned by the API (signing secret of the webhook target).
    webhook_secret: str | None = Field(default=None, max_length=255)
    total_images: int = 0
    processed_images: int = 0
    failed_images: int = 0
    result_key: str | None = Field(default=None, max_length=1024)


# A CSV bulk upload of products.
class BulkUpload(IdMixin, JobMixin, table=True):
    __tablename__ = "bulk_upload"
    filename: str | None = Field(default=None, max_length=255)
    source_key: str = Field(max_length=1024)
    total_rows: int = 0
    processed_rows: int = 0
    created_count: int = 0
    updated_count: int = 0
    failed_count: int = 0
    error_report_key: str | None = Field(default=None, max_length=1024)


# One failed row of a bulk upload (one row per line of the CSV, so retries don't duplicate).
class BulkUploadRowError(IdMixin, table=True):
    __tablename__ = "bulk_upload_row_error"
    __table_args__ = (sa.UniqueConstraint("bulk_upload_id", "row_number"),)
    bulk_upload_id: uuid.UUID = Field(foreign_key="bulk_upload.id", ondelete="CASCADE", index=True)
    row_number: int
    sku: str | None = Field(default=None, max_length=128)
    field: str | None = Field(default=None, max_length=64)
    message: str
    created_at: datetime = tz_datetime(nullable=False)


# Daily usage per organization (NULL organization = personal usage of all users).
class UsageReport(IdMixin, TimestampMixin, table=True):
    __tablename__ = "usage_report"
    __table_args__ = (sa.UniqueConstraint("organization_id", "report_date"),)
    organization_id: uuid.UUID | None = Field(
        default=None, foreign_key="organization.id", ondelete="CASCADE", index=True
    )
    report_date: date
    generations_by_status: dict[str, Any] = json_field(default_factory=dict)
    predictions: int = 0
    exports: int = 0
    storage_bytes: int = Field(default=0, sa_type=sa.BigInteger)
    # Seconds the day's ended generations spent queued, computing, ingesting and in total.
    timings: dict[str, float] = json_field(default_factory=dict)


# The outcome of one maintenance run (orphan scan, dead-letter retry, …), for operators.
class MaintenanceReport(IdMixin, TimestampMixin, table=True):
    __tablename__ = "maintenance_report"
    kind: str = Field(max_length=64, index=True)
    dry_run: bool = False
    status: JobStatus = enum_field(JobStatus, default=JobStatus.RUNNING)
    workflow_id: str | None = Field(default=None, max_length=255)
    counts: dict[str, Any] = json_field(default_factory=dict)
    details: dict[str, Any] = json_field(default_factory=dict)
    started_at: datetime | None = tz_datetime()
    completed_at: datetime | None = tz_datetime()
