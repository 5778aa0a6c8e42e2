"""The fault-injection suite (`uv run pytest -m chaos`): every test is marked `chaos` and
records what happened to its runs; the summary table is printed at the end of the session
(and written as Markdown to $CHAOS_SUMMARY_PATH when set)."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest


@dataclass
class ScenarioResult:
    scenario: str
    runs: int
    completed: int
    duplicates: int
    lost: int

    @property
    def ok(self) -> bool:
        return self.completed == self.runs and self.duplicates == 0 and self.lost == 0


RESULTS: list[ScenarioResult] = []


class ChaosReport:
    """What a scenario records; the test asserts on the same figures afterwards, so the
    table shows failures too."""

    def record(
        self, scenario: str, *, runs: int, completed: int, duplicates: int = 0, lost: int = 0
    ) -> ScenarioResult:
        result = ScenarioResult(scenario, runs, completed, duplicates, lost)
        RESULTS.append(result)
        return result


@pytest.fixture
def chaos_report() -> ChaosReport:
    return ChaosReport()


def summary_lines(results: list[ScenarioResult]) -> list[str]:
    header = ("scenario", "runs", "completed", "duplicates", "lost")
    rows = [
        (r.scenario, str(r.runs), str(r.completed), str(r.duplicates), str(r.lost)) for r in results
    ]
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(row) + " |" for row in rows]
    return lines


def pytest_terminal_summary(terminalreporter: Any) -> None:
    if not RESULTS:
        return
    lines = summary_lines(RESULTS)
    terminalreporter.section("fault suite summary")
    for line in lines:
        terminalreporter.write_line(line)
    target = os.environ.get("CHAOS_SUMMARY_PATH")
    if target:
        Path(target).write_text("\n".join(lines) + "\n")
