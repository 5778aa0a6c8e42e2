"""Payloads of the maintenance workflows (media deletion, dead letters, orphan scan, usage
report, stuck-generation reconciler): ids, keys, cursors and counts, never rows."""

from __future__ import annotations

from dataclasses import dataclass, field

# --- media deletion ----------------------------------------------------------------------


@dataclass(frozen=True)
class MediaDeletionInput:
    storage_key: str
    media_resource_id: str | None = None
    # None = the app bucket. Operators (and the failure tests) may point at another bucket:
    # a missing bucket fails every delete with a real S3 error (NoSuchBucket).
    bucket: str | None = None
    max_attempts: int = 5
    initial_interval_seconds: float = 2.0


@dataclass(frozen=True)
class DeleteObjectInput:
    storage_key: str
    bucket: str | None = None


@dataclass(frozen=True)
class DeadLetterInput:
    storage_key: str
    media_resource_id: str | None
    error_message: str


@dataclass(frozen=True)
class MediaDeletionResult:
    outcome: str  # deleted | in_use | dead_lettered


# --- dead-letter retry -------------------------------------------------------------------


@dataclass(frozen=True)
class DeadLetterRetryInput:
    batch_size: int = 100
    # After this many failed rounds a dead letter is left alone (and logged) for a person.
    max_attempts: int = 10
    # Round n waits base * 2**(n-1) (capped) after the previous one.
    backoff_base_seconds: int = 900
    backoff_max_seconds: int = 86_400
    max_batches: int = 20  # per run: the next run (15 min later) continues
    bucket: str | None = None
    storage_keys: list[str] | None = None  # retry just these (operators, hermetic tests)
    # Set by the workflow: a letter it already tried in this run is not tried again in it
    # (with a zero backoff, the next batch would otherwise pick it straight back up).
    attempted_before: str | None = None


@dataclass(frozen=True)
class DeadLetterBatchResult:
    attempted: int = 0
    resolved: int = 0
    failed: int = 0
    given_up: int = 0


@dataclass(frozen=True)
class DeadLetterRetryResult:
    attempted: int = 0
    resolved: int = 0
    failed: int = 0
    given_up: int = 0


# --- orphan scan -------------------------------------------------------------------------

ORPHAN_PHASES = ("rows", "media", "temp", "bulk", "exports")
# Phases after "temp" came later: a run that began before them ends after "temp" (patch id).
JOB_FILE_PHASES_PATCH = "orphan-scan-job-files"


@dataclass(frozen=True)
class OrphanScanPlan:
    report_id: str
    row_cutoff: str  # ISO timestamps, fixed once for the whole scan
    object_cutoff: str
    temp_cutoff: str
    jobs_cutoff: str | None = None  # bulk-uploads/ and exports/ (None: plans made before)


@dataclass(frozen=True)
class OrphanScanState:
    plan: OrphanScanPlan
    phase: str = "rows"
    cursor: str | None = None  # last row id (rows) or S3 continuation token (objects)
    counts: dict[str, int] = field(default_factory=dict)
    runs: int = 1
    pages: int = 0


@dataclass(frozen=True)
class OrphanScanInput:
    dry_run: bool = False
    # Unattached rows (and `media/` objects without a row) younger than this are left
    # alone; None = the ORPHAN_GRACE_HOURS setting of the worker.
    grace_seconds: int | None = None
    object_grace_seconds: int | None = None  # None = grace_seconds
    temp_max_age_seconds: int = 86_400
    # bulk-uploads/ and exports/ files no job needs; None = the JOB_FILES_MAX_AGE_HOURS setting.
    job_files_max_age_seconds: int | None = None
    page_size: int = 1000
    bucket: str | None = None
    # Continue-as-new after this many pages in one run, besides when the server suggests
    # it (tests force a small number).
    pages_per_run: int | None = None
    # Carried across continue-as-new: the plan, where the scan is, what it found so far.
    state: OrphanScanState | None = None


@dataclass(frozen=True)
class OrphanPageInput:
    plan: OrphanScanPlan
    phase: str
    cursor: str | None
    dry_run: bool
    page_size: int
    bucket: str | None = None


@dataclass(frozen=True)
class OrphanPageResult:
    next_cursor: str | None  # None: the phase is done
    counts: dict[str, int] = field(default_factory=dict)


@dataclass(frozen=True)
class FinishReportInput:
    report_id: str
    status: str
    counts: dict[str, int]
    details: dict[str, object] = field(default_factory=dict)


@dataclass(frozen=True)
class OrphanScanResult:
    report_id: str
    counts: dict[str, int]
    runs: int


# --- usage report ------------------------------------------------------------------------


@dataclass(frozen=True)
class UsageReportInput:
    report_date: str | None = None  # ISO date; None = yesterday (UTC) of the run


@dataclass(frozen=True)
class UsageReportResult:
    report_date: str
    rows: int


# --- stuck-generation reconciler ---------------------------------------------------------


@dataclass(frozen=True)
class ReconcileInput:
    # Restarted generations run on this prefix's generations queue (the schedule's own).
    task_queue_prefix: str = ""
    pending_after_seconds: int = 300
    processing_after_seconds: int = 600
    batch_size: int = 200
    generation_ids: list[str] | None = None  # reconcile just these (operators, tests)


@dataclass(frozen=True)
class ReconcileResult:
    checked: int = 0
    alive: int = 0
    restarted: int = 0
    failed: int = 0
    left_to_batch: int = 0
