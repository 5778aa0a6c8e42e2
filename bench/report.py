"""The bench's outputs: a table on stdout, JSON, and docs/benchmarks.md, each with the
machine it ran on (the ratios are what compares across machines; absolute values do not)."""

from __future__ import annotations

import json
import os
import platform
import subprocess
import sys
from datetime import UTC, datetime
from importlib import metadata
from pathlib import Path
from typing import Any

from bench.figures import Figure

PACKAGES = ("temporalio", "fastapi", "uvicorn", "sqlalchemy", "asyncpg", "redis", "boto3")


def _memory_gib() -> float:
    import psutil

    return round(psutil.virtual_memory().total / 2**30, 1)


def _git_commit() -> str | None:
    try:
        out = subprocess.run(
            ["git", "rev-parse", "--short", "HEAD"],
            capture_output=True,
            text=True,
            check=True,
            cwd=Path(__file__).parent,
        )
    except (OSError, subprocess.CalledProcessError):
        return None
    return out.stdout.strip() or None


def machine(service_versions: dict[str, str]) -> dict[str, Any]:
    versions = {"python": platform.python_version()}
    for name in PACKAGES:
        try:
            versions[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            continue
    versions.update(service_versions)
    return {
        "cpus": os.cpu_count(),
        "memory_gib": _memory_gib(),
        "platform": platform.platform(),
        "load_average": [round(x, 2) for x in os.getloadavg()],
        "versions": versions,
        "commit": _git_commit(),
        "when": datetime.now(UTC).isoformat(timespec="seconds"),
    }


def _fmt(value: float) -> str:
    if value == float("inf"):
        return "inf"
    return f"{value:,.2f}" if abs(value) < 1000 else f"{value:,.0f}"


def _met(figure: Figure) -> str:
    return {True: "yes", False: "NO", None: ""}[figure.met]


# What bounds each benchmark (from profiling it; see the closing notes of issue 6).
BOUNDS = {
    "P1": "Each single-try generation runs 6 activities and ~9 workflow tasks; the engine's "
    "share is the same as the bare workflow's, ours is the activity bodies (Postgres round "
    "trips, the output copied into the bucket, events) on one worker process, i.e. one core "
    "for Python, sharing the machine with compute_sim rendering the outputs.",
    "P2": "After `task.completed`: the bridge's signal, then fetch_result, store_outputs and "
    "record_and_complete (3 activities, 4 workflow tasks) before the event is published; "
    "under concurrency the worker's single Python core is the queue.",
    "P3": "One API process (one core for Python) against asyncpg driven from the bench "
    "process: per request the API adds HTTP parsing, routing and validation, auth (token, user "
    "and membership queries), the checkout ping, and building and serializing the views; POST "
    "also inserts through the ORM and starts a workflow (one Temporal round trip, reported as "
    "the floor). Connections are handed out first come, first served (core/fair_pool.py), so "
    "our p99 stays within ~2x our p50; the bare asyncpg pool's queue lets newcomers overtake, "
    "hence its p99 far above its p50.",
    "P4": "Sequential chunks (exactly-once by design: each chunk commits with its counts); per "
    "row the worker's CSV decode and validation in Python, then COPY into a staging table and "
    "one set-based upsert per chunk.",
    "P5": "The scan pages with list_objects_v2 like the baseline and checks each page's keys "
    "against Postgres; the difference is one activity (and its workflow task) per page.",
    "P6": "Each bad login is one Argon2 verify (~170 ms of CPU, 64 MiB of memory) in the API's "
    "bounded hashing pool: 2 threads at the lowest priority, off the first CPU (core/security.py). "
    "The loop then waits only for the login requests' own work (form, user query, rate-limit "
    "round trips) and for what the memory-hard hashes on the other core cost the shared "
    "machine; hashing throughput is what one low-priority core gives (~3 verifies/s here).",
}

HEADER = ("id", "figure", "unit", "ours", "baseline", "ratio", "goal", "met", "load 1m")
# Marks a figure measured while the 1-minute load average was above the core count.
OVERLOADED = "OVERLOADED"


def _load(figure: Figure) -> str:
    c = figure.conditions
    if not c:
        return ""
    text = f"{c['load_1m_start']:.2f}-{c['load_1m_end']:.2f} (max {c['load_1m_max']:.2f})"
    if "outside_cpu_cores" in c:
        text += f", outside {c['outside_cpu_cores']:.2f}"
    return f"{text} {OVERLOADED}" if figure.overloaded else text


def rows(figures: list[Figure]) -> list[tuple[str, ...]]:
    return [
        (
            f.id,
            f.name,
            f.unit,
            _fmt(f.ours),
            _fmt(f.baseline),
            _fmt(f.ratio),
            f.goal,
            _met(f),
            _load(f),
        )
        for f in figures
    ]


def table(figures: list[Figure]) -> str:
    body = [HEADER, *rows(figures)]
    widths = [max(len(row[i]) for row in body) for i in range(len(HEADER))]
    lines = ["  ".join(cell.ljust(w) for cell, w in zip(row, widths, strict=True)) for row in body]
    lines.insert(1, "  ".join("-" * w for w in widths))
    return "\n".join(lines)


def _status_line(status: str, count: int) -> list[str]:
    if status == "complete":
        return []
    what = {
        "running": "the run is still going (each figure is written as soon as it is measured)",
        "interrupted": "the run was stopped before it ended",
        "failed": "the run failed before it ended",
    }.get(status, status)
    return [f"**Partial report: {what}; {count} figure(s) measured.**", ""]


def _overload_lines(figures: list[Figure], info: dict[str, Any]) -> list[str]:
    flagged = [f.id for f in figures if f.overloaded]
    if not flagged:
        return []
    return [
        f"**{OVERLOADED}: {', '.join(flagged)} measured while the 1-minute load average was "
        f"above the {info['cpus']} CPUs and work from outside the run used at least half a "
        "core on average: something else competed for the cores, so these figures read low.**",
        "",
    ]


def markdown(
    figures: list[Figure], info: dict[str, Any], command: str, status: str = "complete"
) -> str:
    versions = ", ".join(f"{k} {v}" for k, v in info["versions"].items())
    lines = [
        "# Benchmarks",
        "",
        f"Produced by `{command}` on {info['when']} (commit {info['commit'] or 'unknown'}).",
        "",
        *_status_line(status, len(figures)),
        f"Machine: {info['cpus']} CPUs, {info['memory_gib']} GiB memory, {info['platform']}; "
        f"load average when written {', '.join(map(str, info['load_average']))}.",
        f"Versions: {versions}.",
        "",
        "Every ratio compares with a baseline measured in the same run on the same services "
        "(see `bench/` for each baseline); throughput ratios are ours / baseline (higher is "
        "better), latency ratios ours / baseline (lower is better). `load 1m` is the machine's "
        "1-minute load average at the start and end of each figure and its maximum meanwhile; "
        "`outside` the cores of CPU used by work that was not the run's, on average "
        "(bench/outside_load.py). The run's own processes put this 2-core machine above its "
        "cores by themselves; a figure is flagged only when outside work competed too.",
        "",
        *_overload_lines(figures, info),
        "| " + " | ".join(HEADER) + " |",
        "|" + "---|" * len(HEADER),
    ]
    lines += [
        "| " + " | ".join(cell.replace("|", "\\|") for cell in row) + " |" for row in rows(figures)
    ]
    lines += ["", "## What bounds each figure", ""]
    shown = sorted({f.id[:2] for f in figures})
    lines += [f"- **{name}**: {BOUNDS[name]}" for name in shown if name in BOUNDS]
    lines += ["", "## Details", ""]
    for f in figures:
        lines.append(
            f"- **{f.id}** {f.name} — baseline: {f.baseline_name}. "
            f"`{json.dumps(f.details, sort_keys=True)}`; conditions: "
            f"`{json.dumps(f.conditions, sort_keys=True)}`"
        )
    return "\n".join(lines) + "\n"


def write(
    figures: list[Figure],
    info: dict[str, Any],
    json_path: Path,
    md_path: Path | None,
    *,
    status: str = "complete",
) -> None:
    """Both reports, each replaced in one rename: a run killed mid-write leaves the last
    complete version, never half a file."""
    command = (
        "uv run sartiq bench " + " ".join(sys.argv[2:])
        if len(sys.argv) > 2
        else "uv run sartiq bench"
    )
    document = {
        "status": status,
        "machine": info,
        "overloaded": [f.id for f in figures if f.overloaded],
        "figures": [f.as_dict() for f in figures],
    }
    _replace(json_path, json.dumps(document, indent=2) + "\n")
    if md_path is not None:
        _replace(md_path, markdown(figures, info, command.strip(), status))


def _replace(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_text(text)
    tmp.replace(path)
