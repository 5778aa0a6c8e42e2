"""Where a generation's time went, as Replicate's `predict_time` tells it: seconds spent
queued (created, or retried, → the workflow's mark_processing: waiting for a worker),
computing (each compute task's started → completed, by the compute server's clock),
ingesting (a try's result fetched → its outputs stored and recorded, less the evaluation
compute in between) and in total (created → ended).

While the generation runs, `generation.timings` holds marks keyed by what they measure
(`compute:{task id}`, `fetched:{task id}`, `ingest:{task id}`, `started`, `requested`),
each written once, so a retried activity or a duplicate event never counts a span twice.
As it ends they are folded into the four figures the API shows; a retry starts afresh.
"""

from __future__ import annotations

from datetime import UTC, datetime

from models.generation import Generation, GenerationStatus

FIGURES = ("queued", "compute", "ingest", "total")
COMPUTE, FETCHED, INGEST = "compute:", "fetched:", "ingest:"
STARTED, REQUESTED = "started", "requested"
_ENDED = frozenset(
    {GenerationStatus.COMPLETED, GenerationStatus.FAILED, GenerationStatus.CANCELLED}
)


def _epoch(moment: datetime) -> float:
    return (moment if moment.tzinfo else moment.replace(tzinfo=UTC)).timestamp()


def _marks(generation: Generation) -> dict[str, float] | None:
    """The running marks; None once it ended (its figures are final)."""
    if generation.status in _ENDED:
        return None
    return dict(generation.timings or {})


def _set_once(generation: Generation, key: str, value: float) -> None:
    marks = _marks(generation)
    if marks is None or key in marks:
        return
    marks[key] = value
    # A new dict: the JSONB column is not a mutable-tracked one.
    generation.timings = marks


def mark_started(generation: Generation, now: datetime | None = None) -> None:
    """The workflow picked it up: the end of the queued span."""
    _set_once(generation, STARTED, _epoch(now or datetime.now(UTC)))


def mark_task(
    generation: Generation,
    task_id: str,
    *,
    started_at: datetime | None,
    completed_at: datetime | None,
    created_at: datetime | None = None,
    now: datetime | None = None,
) -> None:
    """A compute task whose result was fetched: its compute span and the fetch moment.
    Without the server's started_at, its created_at (else nothing) begins the span."""
    fetched = now or datetime.now(UTC)
    begin = started_at or created_at
    if begin is not None:
        end = completed_at or fetched
        _set_once(generation, COMPUTE + task_id, max(0.0, _epoch(end) - _epoch(begin)))
    _set_once(generation, FETCHED + task_id, _epoch(fetched))


def mark_ingest(generation: Generation, task_id: str, now: datetime | None = None) -> None:
    """A try's outputs are recorded: ingest is the time since its result was fetched, less
    the compute of the tasks fetched meanwhile (an AGENTIC try's evaluation)."""
    marks = _marks(generation)
    if marks is None or FETCHED + task_id not in marks:
        return
    fetched = marks[FETCHED + task_id]
    evaluations = sum(
        marks.get(COMPUTE + key.removeprefix(FETCHED), 0.0)
        for key, at in marks.items()
        if key.startswith(FETCHED) and at > fetched
    )
    span = _epoch(now or datetime.now(UTC)) - fetched - evaluations
    _set_once(generation, INGEST + task_id, max(0.0, span))


def restart(now: datetime | None = None) -> dict[str, float]:
    """The marks of a retried generation: its queue starts at the retry."""
    return {REQUESTED: _epoch(now or datetime.now(UTC))}


def finalize(generation: Generation) -> None:
    """The four figures, as the generation ends (call before its status changes; a second
    call after it ended changes nothing)."""
    marks = _marks(generation)
    if marks is None:
        return
    ended = _epoch(generation.completed_at or datetime.now(UTC))
    origin = marks.get(REQUESTED)
    if origin is None:
        origin = _epoch(generation.created_at) if generation.created_at else ended
    started = marks.get(STARTED, ended)
    generation.timings = {
        "queued": round(max(0.0, started - origin), 3),
        "compute": round(sum(v for k, v in marks.items() if k.startswith(COMPUTE)), 3),
        "ingest": round(sum(v for k, v in marks.items() if k.startswith(INGEST)), 3),
        "total": round(max(0.0, ended - origin), 3),
    }


def public(generation: Generation) -> dict[str, float] | None:
    """What GET /generations/{id} shows: the four figures once it ended, else null."""
    if generation.status not in _ENDED or not generation.timings:
        return None
    figures = {k: float(generation.timings[k]) for k in FIGURES if k in generation.timings}
    return figures if len(figures) == len(FIGURES) else None
