"""`sartiq bench` end to end at tiny sizes on the session's services: every benchmark runs
against its baseline and yields sane figures (the numbers themselves mean nothing here)."""

from __future__ import annotations

from pathlib import Path

from bench import report
from bench.runner import ALL, Scale, _measure
from bench.stack import running


async def test_every_benchmark_runs_against_its_baseline(
    stack_env: dict[str, str], tmp_path: Path
) -> None:
    lines: list[str] = []
    async with running(stack_env, tmp_path, lines.append) as stack:
        figures = await _measure(stack, list(ALL), Scale.quick())
        stack.check()
    by_id = {f.id: f for f in figures}
    assert set(by_id) == {"P1", "P2@1", "P2@3", "P3-get", "P3-post", "P4", "P5", "P6"}
    for figure in figures:
        assert figure.ours > 0 and figure.baseline > 0, figure
        assert figure.ratio > 0, figure
    assert by_id["P1"].details["activities_per_generation"] >= 3
    assert by_id["P1"].details["signals_per_generation"] >= 1
    assert by_id["P2@3"].details["samples"] == 3
    assert by_id["P4"].details["worker_rss_peak_mib"] > 0
    assert by_id["P5"].details["counts"]["orphan_objects"] == Scale.quick().orphan_objects
    assert by_id["P6"].details["bad_logins_per_second"] > 0
    assert len(report.table(figures).splitlines()) == len(figures) + 2
