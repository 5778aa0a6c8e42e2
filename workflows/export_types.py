"""Payloads of ExportWorkflow and its activities: ids, keys and counts only.

The list of images of an export can be long, so it never travels through the history: the
plan activity writes it to the bucket (`exports/{id}/plan.json`) and passes the key.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

# Heartbeats must reach Temporal within this: a dead worker's zip attempt is retried after
# it, and a cancel request reaches a running attempt within about 0.8 of it (the SDK sends
# heartbeats, which carry the cancellation back, at most that often).
DEFAULT_HEARTBEAT_TIMEOUT_SECONDS = 10


@dataclass(frozen=True)
class ExportPlan:
    """What the workflow needs to run an export, read once from the database."""

    export_id: str
    organization_id: str | None
    owner_id: str | None
    target: str  # zip | webhook
    format: str  # original | jpg | png | webp
    max_dimension: int | None
    plan_key: str  # the images (file names, keys) as JSON in the bucket
    total: int
    result_key: str  # where the zip goes (zip target)
    part_size: int  # multipart part size, fixed per export so a resume cuts parts alike
    already_finished: bool = False  # a re-delivered start for a finished export
    status: str | None = None  # the export's status when planned
    error: str | None = None  # set when there is nothing to export
    # The export's deadline (EXPORT_DEADLINE_SECONDS from when it started running), carried
    # with the plan across continue-as-new; None: planned before deadlines existed.
    deadline_at: datetime | None = None
    deadline_seconds: int | None = None


@dataclass(frozen=True)
class WebhookCursor:
    """Where webhook delivery stands, carried over continue-as-new."""

    next_index: int = 0
    processed: int = 0
    failed: int = 0
    failed_indexes: list[int] = field(default_factory=list)


@dataclass(frozen=True)
class ExportInput:
    export_id: str
    heartbeat_timeout_seconds: int = DEFAULT_HEARTBEAT_TIMEOUT_SECONDS
    # Set only by continue-as-new: the plan made by the first run and the delivery cursor.
    plan: ExportPlan | None = None
    cursor: WebhookCursor | None = None
    # The run's one-line summary, carried so continued runs can show it (run_status.show).
    label: str | None = None


@dataclass(frozen=True)
class BuildZipInput:
    export_id: str
    plan_key: str
    result_key: str
    format: str
    max_dimension: int | None
    total: int
    part_size: int


@dataclass(frozen=True)
class ZipResult:
    result_key: str
    size: int  # bytes of the archive
    processed: int  # images in the archive
    failed: int  # images skipped (missing or unreadable source)
    failed_indexes: list[int]
    upload_id: str
    parts: int
    resumed_from_part: int  # 0: this attempt started the upload; n: it found n parts done


@dataclass(frozen=True)
class DeliverInput:
    export_id: str
    plan_key: str
    index: int
    total: int
    format: str
    max_dimension: int | None


@dataclass(frozen=True)
class DeliveryResult:
    index: int
    status_code: int
    bytes: int


@dataclass(frozen=True)
class ExportProgressInput:
    export_id: str
    processed: int
    failed: int


@dataclass(frozen=True)
class CleanupInput:
    export_id: str
    result_key: str | None = None
    delete_result: bool = False  # the export did not complete: its archive must not stay


@dataclass(frozen=True)
class FinishExportInput:
    export_id: str
    status: str  # completed | failed | cancelled
    processed: int = 0
    failed: int = 0
    # Images that did not make it (their shots are not marked exported because of them).
    failed_indexes: list[int] = field(default_factory=list)
    plan_key: str | None = None
    result_key: str | None = None
    error_message: str | None = None


@dataclass(frozen=True)
class ExportOutcome:
    """What a run ended with (the last run's, after continue-as-new)."""

    status: str  # completed | failed | already_finished
    processed: int = 0
    failed: int = 0
    zip: ZipResult | None = None


@dataclass
class ExportProgress:
    """The `progress` query of ExportWorkflow. A zip export writes its per-image progress to
    the database from inside its one long activity; here it is counted when that ends."""

    status: str
    phase: str  # planning | zipping | delivering | finishing | done
    total: int = 0
    processed: int = 0
    failed: int = 0
