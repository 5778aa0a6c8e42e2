"""Figures reach the reports the moment they are measured, each with the machine's load, and
a figure measured above the core count is flagged (no services: the benchmarks are fakes)."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest

from bench import outside_load, report, runner
from bench.figures import Figure
from bench.recorder import LoadSampler, Recorder


class FixedLoad(LoadSampler):
    """A sampler reading `loads` one by one (the last one over and over), with `outside`
    runnable tasks that are not the run's at every sample."""

    def __init__(self, loads: list[float], outside: float = 0.0) -> None:
        super().__init__()
        self.loads = loads
        self.outside = outside

    def sample(self) -> tuple[float, float, float]:
        load = self.loads.pop(0) if len(self.loads) > 1 else self.loads[0]
        with self._lock:
            self.samples.append((time.monotonic(), load, self.outside))
        return (load, load / 2, load / 4)


def _figure(id_: str) -> Figure:
    return Figure(id_, f"figure {id_}", "ms p99", 2.0, 1.0, "bare", 2.0, "<= 3x", True)


def _saved(path: Path) -> dict[str, Any]:
    return dict(json.loads(path.read_text()))


def test_each_figure_is_written_when_recorded(tmp_path: Path) -> None:
    json_path, md_path = tmp_path / "b.json", tmp_path / "b.md"
    rec = Recorder(["P5", "P6"], json_path, md_path, cpus=2, sampler=FixedLoad([0.5]))
    rec.begin("P5", {"idle_wait_s": 1.5, "open_at_start": 3, "open_left": 0})
    assert rec.record(_figure("P5"))
    saved = _saved(json_path)
    assert saved["status"] == "running" and [f["id"] for f in saved["figures"]] == ["P5"]
    conditions = saved["figures"][0]["conditions"]
    assert conditions["cpus"] == 2 and conditions["overloaded"] is False
    assert conditions["idle_wait_s"] == 1.5 and conditions["open_at_start"] == 3
    assert "| P5 |" in md_path.read_text() and "Partial report" in md_path.read_text()
    rec.begin("P6")
    rec.record(_figure("P6"))
    assert [f["id"] for f in _saved(json_path)["figures"]] == ["P5", "P6"]
    rec.finish("complete")
    assert _saved(json_path)["status"] == "complete"
    assert "Partial report" not in md_path.read_text()


def test_figures_of_benchmarks_not_asked_for_are_dropped(tmp_path: Path) -> None:
    rec = Recorder(["P2"], tmp_path / "b.json", None, sampler=FixedLoad([0.1]))
    assert not rec.record(_figure("P1"))  # P1's run was P2's set-up only
    assert rec.record(_figure("P2@1"))
    assert [f.id for f in rec.figures] == ["P2@1"]


def test_a_figure_measured_above_the_core_count_is_flagged(tmp_path: Path) -> None:
    json_path, md_path = tmp_path / "b.json", tmp_path / "b.md"
    # Start 0.8, a peak of 3.5 sampled meanwhile, end 1.2 on a 2-core machine.
    sampler = FixedLoad([0.8, 3.5, 1.2], outside=2)
    rec = Recorder(["P1", "P3"], json_path, md_path, cpus=2, sampler=sampler)
    rec.begin("P1")
    sampler.sample()  # what the sampling thread would have seen during the figure
    rec.record(_figure("P1"))
    rec.begin("P3")
    rec.record(_figure("P3-get"))
    first, second = rec.figures
    assert first.conditions["load_1m_start"] == 0.8
    assert first.conditions["load_1m_max"] == 3.5 and first.conditions["load_1m_end"] == 1.2
    assert first.overloaded and not second.overloaded
    saved = _saved(json_path)
    assert saved["overloaded"] == ["P1"]
    md = md_path.read_text()
    assert f"| 0.80-1.20 (max 3.50), outside 2.00 {report.OVERLOADED} |" in md
    assert f"**{report.OVERLOADED}: P1 measured" in md
    assert report.OVERLOADED in report.table(rec.figures)


def test_the_runs_own_load_above_the_cores_is_not_flagged(tmp_path: Path) -> None:
    """On 2 cores the run alone goes above the core count; only outside work flags."""
    sampler = FixedLoad([0.8, 3.5, 1.2], outside=0)
    rec = Recorder(["P1"], tmp_path / "b.json", None, cpus=2, sampler=sampler)
    rec.begin("P1")
    sampler.sample()
    rec.record(_figure("P1"))
    (figure,) = rec.figures
    assert figure.conditions["load_above_cores"] is True
    assert figure.conditions["outside_cpu_cores"] == 0.0
    assert not figure.overloaded


def test_outside_load_tells_the_runs_work_from_other_work() -> None:
    """A busy child is the run's; the same loop detached from the run is outside work."""
    meter = outside_load.OutsideMeter()

    def outside_during(seconds: float) -> float:
        meter.sample()
        time.sleep(seconds)
        return meter.sample()

    own = subprocess.Popen([sys.executable, "-c", "while True: pass"])
    try:
        time.sleep(0.2)
        with_own = outside_during(1.0)  # a whole core busy, all of it the run's
    finally:
        own.kill()
        own.wait()
    # `sh` exits at once: its background child is reparented away from this process tree.
    loop = "import time; t = time.time()\nwhile time.time() - t < 3: pass"
    subprocess.run(["sh", "-c", f"{sys.executable} -c '{loop}' >/dev/null 2>&1 &"], check=True)
    time.sleep(0.2)
    # The same core's worth of work counts as outside once it is not the run's (compared,
    # not absolute: other tenants of a shared machine add to both readings alike).
    assert outside_during(1.0) - with_own >= 0.5


class FakeStack:
    """Just what `_measure` touches: the recorder, the idle wait, the health check."""

    def __init__(self, recorder: Recorder) -> None:
        self.recorder = recorder
        self.log = recorder.log

    async def before_figure(self, label: str) -> None:
        self.recorder.begin(label)

    def record(self, figure: Figure) -> None:
        self.recorder.record(figure)

    def check(self) -> None:
        pass


async def test_a_run_cut_short_keeps_the_figures_measured_before(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from bench import login_flood, orphans

    json_path = tmp_path / "b.json"
    seen_by_p6: list[list[str]] = []

    async def p5(stack: FakeStack, **_: Any) -> None:
        await stack.before_figure("P5")
        stack.record(_figure("P5"))

    async def p6(stack: FakeStack, **_: Any) -> None:
        # P5 is on disk before the next benchmark even starts.
        seen_by_p6.append([f["id"] for f in _saved(json_path)["figures"]])
        raise RuntimeError("P6 broke")

    monkeypatch.setattr(orphans, "run", p5)
    monkeypatch.setattr(login_flood, "run", p6)
    rec = Recorder(["P5", "P6"], json_path, tmp_path / "b.md", sampler=FixedLoad([0.2]))
    with pytest.raises(RuntimeError, match="P6 broke"):
        fake: Any = FakeStack(rec)
        await runner._measure(fake, ["P5", "P6"], runner.Scale.quick())
    assert seen_by_p6 == [["P5"]]
    rec.finish("failed")
    saved = _saved(json_path)
    assert saved["status"] == "failed" and [f["id"] for f in saved["figures"]] == ["P5"]
