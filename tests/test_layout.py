"""The layout of DESIGN §3, checked: files short enough to read in one sitting, and the layers
importing only downwards. Pure: the files are parsed (`ast`), never imported."""

from __future__ import annotations

import ast
from collections.abc import Iterator
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
MAX_LINES = 400
PACKAGES = (
    "api",
    "core",
    "services",
    "workflows",
    "activities",
    "models",
    "devstack",
    "bench",
    "compute_sim",
)
SCRIPTS = ("cli.py", "cli_bulk_upload.py", "worker.py")
# Generated, append-only history: read one at a time, never as a whole.
EXEMPT = (ROOT / "models" / "migrations" / "versions",)
# The one module of core/ that names workflows: it starts them (client code), so it imports
# their definitions and payload types; nothing else in core/ may.
STARTS = ROOT / "core" / "starts.py"


def production_modules() -> Iterator[Path]:
    for package in PACKAGES:
        for path in sorted((ROOT / package).rglob("*.py")):
            if not any(path.is_relative_to(exempt) for exempt in EXEMPT):
                yield path
    for script in SCRIPTS:
        yield ROOT / script


def imported_modules(path: Path) -> Iterator[tuple[int, str, list[str]]]:
    """(line, module, names) of every import in the file, nested and lazy ones included."""
    for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
        if isinstance(node, ast.Import):
            for alias in node.names:
                yield node.lineno, alias.name, []
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            yield node.lineno, node.module, [alias.name for alias in node.names]


def _within(module: str, package: str) -> bool:
    return module == package or module.startswith(package + ".")


def _relative(path: Path) -> str:
    return path.relative_to(ROOT).as_posix()


def test_no_production_module_is_over_400_lines() -> None:
    lengths = {_relative(path): len(path.read_text().splitlines()) for path in production_modules()}
    too_long = {name: n for name, n in lengths.items() if n > MAX_LINES}
    assert not too_long, "split along their seams: " + ", ".join(
        f"{name} ({n} lines)" for name, n in sorted(too_long.items())
    )


def _violations(package: str, rule: object) -> list[str]:
    found = []
    for path in sorted((ROOT / package).rglob("*.py")):
        for line, module, names in imported_modules(path):
            why = rule(path, module, names)  # type: ignore[operator]
            if why:
                found.append(f"{_relative(path)}:{line} imports {module}: {why}")
    return found


def test_core_imports_no_upper_layer() -> None:
    def rule(path: Path, module: str, names: list[str]) -> str | None:
        for upper in ("api", "activities", "services"):
            if _within(module, upper):
                return f"core/ is below {upper}/"
        if _within(module, "workflows") and path != STARTS:
            return "core/ is below workflows/ (only core/starts.py names workflows)"
        return None

    assert _violations("core", rule) == []


def test_services_hold_no_temporal_or_http_client() -> None:
    """Temporal never; httpx only for its types (a response to check, a request body to
    encode): a client is built by core/ or the worker and passed in (services/remote_images.py
    takes an OutboundClient)."""

    def rule(path: Path, module: str, names: list[str]) -> str | None:
        if _within(module, "temporalio"):
            return "no Temporal in services/"
        if _within(module, "httpx") and {"Client", "AsyncClient"} & set(names):
            return "no HTTP client in services/"
        return None

    assert _violations("services", rule) == []
    for path in sorted((ROOT / "services").rglob("*.py")):
        for node in ast.walk(ast.parse(path.read_text())):
            if (
                isinstance(node, ast.Attribute)
                and node.attr in ("Client", "AsyncClient")
                and isinstance(node.value, ast.Name)
                and node.value.id == "httpx"
            ):
                pytest.fail(f"{_relative(path)}:{node.lineno} builds an httpx client")


def test_workflows_import_no_start_helpers() -> None:
    def rule(path: Path, module: str, names: list[str]) -> str | None:
        if _within(module, "core.starts") or (module == "core" and "starts" in names):
            return "starting workflows is client code (core/starts.py), not workflow code"
        return None

    assert not (ROOT / "workflows" / "starts.py").exists()
    assert _violations("workflows", rule) == []


def test_activities_take_only_payload_types_from_workflows() -> None:
    def rule(path: Path, module: str, names: list[str]) -> str | None:
        if not _within(module, "workflows"):
            return None
        if module == "workflows.types" or module.endswith("_types"):
            return None
        return "activities take payload types (workflows/types.py, *_types.py), nothing else"

    assert _violations("activities", rule) == []


def test_bench_and_tests_share_stack_helpers_through_devstack() -> None:
    def bench_rule(path: Path, module: str, names: list[str]) -> str | None:
        if _within(module, "tests") or _within(module, "cli"):
            return "stack helpers come from devstack/"
        return None

    def tests_rule(path: Path, module: str, names: list[str]) -> str | None:
        # tests/bench/ tests the bench itself; everything else shares devstack/ with it.
        if _within(module, "bench") and not path.is_relative_to(ROOT / "tests" / "bench"):
            return "stack helpers come from devstack/, not from the bench"
        return None

    assert _violations("bench", bench_rule) == []
    assert _violations("tests", tests_rule) == []


def test_secrets_are_compared_in_one_place() -> None:
    """Every secret comparison of the backend goes through `core.webhook_signing`'s
    `constant_time_equal` (bytes, so a non-ASCII header cannot raise). compute_sim is the
    reference Compute Server, a separate program with its own token check."""
    home = ROOT / "core" / "webhook_signing.py"
    found = []
    for path in production_modules():
        if path == home or path.is_relative_to(ROOT / "compute_sim"):
            continue
        for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
            name = getattr(node, "attr", None) or getattr(node, "name", None)
            if isinstance(node, ast.Attribute | ast.alias) and name == "compare_digest":
                found.append(f"{_relative(path)}:{node.lineno}")
    assert found == [], "compare through core.webhook_signing.constant_time_equal"
