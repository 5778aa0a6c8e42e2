"""Every workflow and activity payload: small dataclasses of ids, keys and counts."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

# The compute-event signal is defined beside the bridge that sends it (core/ imports nothing
# from workflows/); a plain dataclass, re-exported here with every other payload.
from core.compute_signal import ComputeEvent as ComputeEvent


@dataclass(frozen=True)
class SessionCleanupInput:
    # Keep revoked/expired sessions this long for audit before deleting them.
    retention_hours: int = 24


@dataclass(frozen=True)
class SessionCleanupResult:
    deleted: int


# --- generations -----------------------------------------------------------------------


@dataclass(frozen=True)
class GenerationInput:
    generation_id: str


@dataclass(frozen=True)
class GenerationPlan:
    """What the workflow needs to run a generation, read once from the database."""

    generation_id: str
    organization_id: str | None
    owner_id: str | None
    generation_type: str  # BASE | AGENTIC
    attempt: int  # the generation's attempt number (a retry starts a new one)
    num_outputs: int
    width: int
    height: int
    format: str
    inputs: dict[str, Any]
    max_attempts: int
    min_confidence_score: float
    deadline_seconds: int
    poll_interval_seconds: int
    sim: dict[str, Any] | None = None  # fault knobs passed through to compute_sim
    already_finished: bool = False  # a re-delivered start for a finished generation
    status: str | None = None  # the generation's status when the plan was read


@dataclass(frozen=True)
class SubmitTaskInput:
    generation_id: str
    task_type: str  # generation | evaluation
    idempotency_key: str
    try_number: int  # 1-based AGENTIC try (1 for BASE)
    inputs: dict[str, Any]
    num_outputs: int
    width: int
    height: int
    format: str
    sim: dict[str, Any] | None = None


@dataclass(frozen=True)
class TaskSnapshot:
    task_id: str
    status: str
    progress: float = 0.0
    error_message: str | None = None
    error_category: str | None = None


@dataclass(frozen=True)
class OutputImage:
    url: str
    seed: int | None = None
    # The object's key in our bucket, when compute wrote it there (read directly, never
    # fetched from `url`); absent from results recorded before it existed.
    key: str | None = None


@dataclass(frozen=True)
class TaskOutput:
    images: list[OutputImage] = field(default_factory=list)
    text: str | None = None
    score: float | None = None


@dataclass(frozen=True)
class StoreOutputsInput:
    generation_id: str
    organization_id: str | None
    owner_id: str | None
    images: list[OutputImage]


@dataclass(frozen=True)
class StoredOutput:
    media_id: str
    content_hash: str
    extension: str
    content_type: str
    file_size: int
    width: int
    height: int
    dominant_color: str
    seed: int | None
    color_profile: str | None = None


@dataclass(frozen=True)
class RecordTryInput:
    generation_id: str
    try_number: int
    task_id: str
    outputs: list[StoredOutput]
    score: float | None = None


@dataclass(frozen=True)
class CompleteInput:
    generation_id: str
    best_try: int
    best_score: float | None = None
    provider: str | None = None  # the provider whose outputs the best try kept


@dataclass(frozen=True)
class RecordAndCompleteInput:
    """A single-try generation's outputs and its completion, written together."""

    record: RecordTryInput
    complete: CompleteInput


@dataclass(frozen=True)
class FinishInput:
    generation_id: str
    status: str  # failed | cancelled
    error_message: str | None = None
    error_category: str | None = None


@dataclass(frozen=True)
class ProgressInput:
    generation_id: str
    progress: float


@dataclass
class GenerationProgress:
    """The `progress` query of GenerationWorkflow."""

    status: str
    progress: float
    try_number: int
    task_id: str | None
    best_score: float | None


# --- shooting batches: workflows/batch_types.py -------------------------------------------
