"""The bench's arithmetic and report formats (pure, no services)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from bench import report
from bench.figures import Figure, ratio
from bench.stats import latency_summary, percentile


def test_percentile_is_nearest_rank() -> None:
    samples = [float(i) for i in range(1, 101)]
    assert percentile(samples, 50) == 50
    assert percentile(samples, 99) == 99
    assert percentile(samples, 100) == 100
    assert percentile([3.0, 1.0, 2.0], 50) == 2
    with pytest.raises(ValueError):
        percentile([], 50)


def test_latency_summary_is_in_milliseconds() -> None:
    summary = latency_summary([0.010] * 98 + [0.5, 1.0])
    assert summary == {"p50_ms": 10.0, "p95_ms": 10.0, "p99_ms": 500.0, "max_ms": 1000.0}


def test_ratio_guards_a_zero_baseline() -> None:
    assert ratio(3, 2) == 1.5
    assert ratio(1, 0) == float("inf")


def _figure(met: bool | None) -> Figure:
    return Figure("P9", "thing | other", "ms p99", 12.5, 5.0, "bare", 2.5, "<= 3x", met, {"n": 1})


def test_table_and_markdown_show_every_figure(tmp_path: Path) -> None:
    figures = [_figure(True), _figure(False), _figure(None)]
    text = report.table(figures)
    lines = text.splitlines()
    header = ["id", "figure", "unit", "ours", "baseline", "ratio", "goal", "met", "load", "1m"]
    assert lines[0].split() == header
    assert [line.split()[-1] for line in lines[2:4]] == ["yes", "NO"]
    info = report.machine({"postgres": "15.0"})
    assert info["cpus"] and info["memory_gib"] > 0 and info["versions"]["postgres"] == "15.0"
    json_path, md_path = tmp_path / "b.json", tmp_path / "docs" / "b.md"
    report.write(figures, info, json_path, md_path)
    saved = json.loads(json_path.read_text())
    assert len(saved["figures"]) == 3 and saved["machine"]["cpus"] == info["cpus"]
    assert saved["status"] == "complete" and saved["overloaded"] == []
    md = md_path.read_text()
    assert "| P9 | thing \\| other | ms p99 | 12.50 | 5.00 | 2.50 | <= 3x | yes |  |" in md
    assert f"{info['cpus']} CPUs" in md and "temporalio" in md
    assert "Partial report" not in md and report.OVERLOADED not in md


def test_a_partial_report_says_so(tmp_path: Path) -> None:
    json_path, md_path = tmp_path / "b.json", tmp_path / "b.md"
    report.write([_figure(True)], report.machine({}), json_path, md_path, status="interrupted")
    assert json.loads(json_path.read_text())["status"] == "interrupted"
    assert "Partial report: the run was stopped before it ended; 1 figure(s)" in md_path.read_text()
    # Replaced whole: no temporary file is left beside the reports.
    assert sorted(p.name for p in tmp_path.iterdir()) == ["b.json", "b.md"]
