"""One measured figure: ours, the same-run baseline, their ratio and the goal."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any


@dataclass
class Figure:
    id: str  # "P1".."P5", with a suffix where one benchmark gives several rows
    name: str
    unit: str
    ours: float
    baseline: float
    baseline_name: str
    # ours / baseline, oriented so the goal reads naturally (see `goal`).
    ratio: float
    goal: str
    met: bool | None
    details: dict[str, Any] = field(default_factory=dict)
    # What the machine was doing meanwhile (bench/recorder.py): load average at the start
    # and end, its maximum, the core count, `overloaded`, and the idle wait before it.
    conditions: dict[str, Any] = field(default_factory=dict)

    @property
    def overloaded(self) -> bool:
        return bool(self.conditions.get("overloaded"))

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def ratio(ours: float, baseline: float) -> float:
    return round(ours / baseline, 3) if baseline else float("inf")
