"""Payloads of ShootingGenerationWorkflow (batch generations of a shooting) and its
activities: ids, a cursor and counts, never rows."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True)
class ShotCursor:
    """The last shot planned: pages follow the order (look id, shot id)."""

    look_id: str
    shot_id: str


@dataclass(frozen=True)
class BatchCounts:
    completed: int = 0
    failed: int = 0
    cancelled: int = 0
    skipped: int = 0


@dataclass(frozen=True)
class BatchCarry:
    """What a run hands to the run it continues as: where planning stopped, and the counts.
    The window is drained first, so no child of an earlier run is still running."""

    cursor: ShotCursor | None = None
    planned_all: bool = False
    total: int = 0
    planned: int = 0
    counts: BatchCounts = field(default_factory=BatchCounts)
    runs: int = 0  # runs of this batch before this one


@dataclass(frozen=True)
class ShootingGenerationInput:
    shooting_id: str
    user_id: str
    organization_id: str | None
    look_id: str | None
    request: dict[str, Any]  # a ShotGenerateRequest as JSON
    only_missing: bool = False
    max_in_flight: int = 4
    # The batch row (models/shooting_generation.py). Runs started before batch rows existed
    # have none: they plan every shot up front, as they always did (see the workflow).
    batch_id: str | None = None
    page_size: int = 100
    pages_per_run: int = 5
    carry: BatchCarry | None = None  # set on a continued run
    # The run's one-line summary, carried so continued runs can show it (run_status.show).
    label: str | None = None


# --- paged planning (batches with a row) ------------------------------------------------


@dataclass(frozen=True)
class PlannedGeneration:
    generation_id: str
    shot_id: str
    label: str | None = None  # the child run's one-line summary (services/run_labels.py)


@dataclass(frozen=True)
class PlanPageInput:
    batch_id: str
    after: ShotCursor | None
    limit: int
    counts: BatchCounts  # so far: kept on the batch row as a checkpoint


@dataclass(frozen=True)
class BatchPage:
    items: list[PlannedGeneration]  # pending generations to run, in order
    cursor: ShotCursor | None  # the last shot of this page (None: the page was empty)
    skipped: int  # shots of the page left alone (already approved, `only_missing`)
    done: bool  # no shot after this page
    total: int  # shots in the batch, as counted at its start


@dataclass(frozen=True)
class CancelRestInput:
    batch_id: str


@dataclass(frozen=True)
class CancelRestResult:
    cancelled: int  # pending generations ended `cancelled`
    cancel_requested: int  # generations still processing whose workflow was asked to cancel


@dataclass(frozen=True)
class FinishBatchInput:
    batch_id: str
    status: str  # completed | failed | cancelled
    counts: BatchCounts
    planned_all: bool
    error_message: str | None = None


@dataclass(frozen=True)
class FinishedBatch:
    status: str
    total: int
    counts: BatchCounts


# --- the plan of a run from before batch rows (kept for those runs) ----------------------


@dataclass(frozen=True)
class PlanBatchInput:
    batch: ShootingGenerationInput
    run_id: str  # generation ids derive from it, so a retried plan creates nothing twice


@dataclass
class BatchProgress:
    """The `progress` query of ShootingGenerationWorkflow (counts over every run)."""

    total: int = 0
    running: int = 0
    completed: int = 0
    failed: int = 0
    cancelled: int = 0
    skipped: int = 0
    planned: int = 0
    runs: int = 0  # runs before the current one (continue-as-new)
