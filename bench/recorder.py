"""Where figures go as they are measured: each one gets the machine's load while it was
measured, and the JSON and Markdown reports are rewritten at once, so a run cut short still
reports what it got.

A figure is flagged OVERLOADED when the 1-minute load average went above the core count
while it was measured *and* work from outside the run used at least half a core on average
(bench/outside_load.py): the run's own processes alone put a 2-core machine above its
cores, so the load average by itself would flag every figure."""

from __future__ import annotations

import contextlib
import os
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import Any

from bench import outside_load, report
from bench.figures import Figure

Log = Callable[[str], None]
# Cores of CPU used outside the run, on average over a figure, that make it incomparable.
OUTSIDE_LIMIT = 0.5


class LoadSampler:
    """The 1-minute load average sampled every `every` seconds on a thread (a benchmark may
    keep the event loop busy; the kernel refreshes the average every 5 s)."""

    def __init__(self, every: float = 1.0) -> None:
        self.every = every
        # (monotonic, 1-min load, cores of CPU used outside the run since the last sample)
        self.samples: list[tuple[float, float, float]] = []
        self.meter = outside_load.OutsideMeter()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._lock = threading.Lock()

    def sample(self) -> tuple[float, float, float]:
        load = os.getloadavg()
        with self._lock:  # one sampler at a time: the meter keeps the previous reading
            others = self.meter.sample()
            self.samples.append((time.monotonic(), load[0], others))
        return load

    def _loop(self) -> None:
        while not self._stop.wait(self.every):
            self.sample()

    def start(self) -> None:
        if self._thread is None:
            self._thread = threading.Thread(target=self._loop, name="bench-load", daemon=True)
            self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=2 * self.every)
            self._thread = None

    def max_since(self, since: float) -> float:
        with self._lock:
            return max((load for at, load, _ in self.samples if at >= since), default=0.0)

    def outside_since(self, since: float) -> float:
        """The mean CPU (in cores) used outside the run since `since`."""
        with self._lock:
            seen = [others for at, _, others in self.samples if at >= since]
        return sum(seen) / len(seen) if seen else 0.0


class Recorder:
    """The run's figures, in measurement order. `begin` opens a figure's load window;
    `record` closes it, attaches the conditions and rewrites the reports. Figures of
    benchmarks not selected (P1's run when only P2 was asked for) are dropped."""

    def __init__(
        self,
        selected: Sequence[str],
        json_path: Path | None = None,
        md_path: Path | None = None,
        log: Log | None = None,
        *,
        cpus: int | None = None,
        sampler: LoadSampler | None = None,
    ) -> None:
        self.selected = set(selected)
        self.json_path = json_path
        self.md_path = md_path
        self.log = log or (lambda _line: None)
        self.cpus = cpus or os.cpu_count() or 1
        self.sampler = sampler or LoadSampler()
        self.figures: list[Figure] = []
        self.info: dict[str, Any] = {}
        self.written = False
        self._window: tuple[str, float, tuple[float, float, float], dict[str, Any]] | None = None

    @contextlib.contextmanager
    def sampling(self) -> Iterator[Recorder]:
        self.sampler.start()
        try:
            yield self
        finally:
            self.sampler.stop()

    def begin(self, label: str, idle: dict[str, Any] | None = None) -> None:
        """A figure's measurement starts now (after the idle wait described by `idle`)."""
        load = self.sampler.sample()
        self._window = (label, time.monotonic(), load, dict(idle or {}))
        self.log(f"{label}: load {load[0]:.2f} at start ({self.cpus} CPUs)")

    def conditions(self) -> dict[str, Any]:
        """The load of the open window (from its start until now) and the idle wait."""
        end = self.sampler.sample()
        if self._window is None:
            since, start, idle = time.monotonic(), end, {}
        else:
            _label, since, start, idle = self._window
        peak = max(start[0], end[0], self.sampler.max_since(since))
        others = self.sampler.outside_since(since)
        return {
            "load_1m_start": round(start[0], 2),
            "load_1m_end": round(end[0], 2),
            "load_1m_max": round(peak, 2),
            "load_start": [round(x, 2) for x in start],
            "load_end": [round(x, 2) for x in end],
            "cpus": self.cpus,
            "load_above_cores": peak > self.cpus,
            "outside_cpu_cores": round(others, 2),
            # The figure competed with work from outside the run for the cores: not
            # comparable with a quiet run.
            "overloaded": peak > self.cpus and others >= OUTSIDE_LIMIT,
            **idle,
        }

    def record(self, figure: Figure) -> bool:
        """Keep `figure` (if its benchmark was selected) and rewrite the reports now."""
        if figure.id[:2] not in self.selected:
            return False
        figure.conditions = self.conditions()
        self.figures.append(figure)
        c = figure.conditions
        self.log(
            f"{figure.id} measured: load {c['load_1m_start']:.2f} -> {c['load_1m_end']:.2f}, "
            f"max {c['load_1m_max']:.2f}, outside the run {c['outside_cpu_cores']:.2f} cores"
            f" ({self.cpus} CPUs)"
            + (" OVERLOADED: load above the cores, from outside the run" if c["overloaded"] else "")
        )
        self.write("running")
        return True

    def write(self, status: str) -> None:
        """Both reports as they stand; `status` says whether the run completed."""
        if self.json_path is None:
            return
        info = {**self.info} if self.info else report.machine({})
        info["load_average"] = [round(x, 2) for x in os.getloadavg()]
        report.write(self.figures, info, self.json_path, self.md_path, status=status)
        self.written = True

    def finish(self, status: str) -> None:
        """The final reports; a run stopped before any figure leaves the old ones alone
        (docs/benchmarks.* are the committed figures)."""
        if self.figures or self.written:
            self.write(status)
