"""The signal a compute task event becomes: the payload the event bridge and the webhook
send to a generation's or caption's workflow.

It lives in core/ (the bridge's layer) and workflows/types.py re-exports it. Workflows
import it (under `imports_passed_through`), so this module stays a plain dataclass with
no imports beyond the standard library and no I/O. Its JSON shape is part of recorded
workflow histories: add only optional fields with defaults, never rename or remove one.
"""

from __future__ import annotations

from dataclasses import dataclass

SIGNAL = "compute_event"


@dataclass(frozen=True)
class ComputeEvent:
    """A compute task event, as signalled by the event bridge or the webhook (a hint)."""

    task_id: str
    event_type: str
    status: str | None = None
    progress: float | None = None
    error_message: str | None = None
    error_category: str | None = None
