"""No workflow retries forever: every `RetryPolicy(...)` in workflows/*.py names its
`maximum_attempts` (above 0), and every activity call passes a `retry_policy`, since the
SDK's default policy (no retry_policy given) retries without end. Pure: the files are parsed
(`ast`), never imported; a failure names file:line."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

from workflows import retry_policies

ROOT = Path(__file__).resolve().parents[2]
WORKFLOW_FILES = sorted((ROOT / "workflows").glob("*.py"))
# Calls that schedule an activity (temporalio.workflow); child workflows do not retry
# unless asked, so they are not listed.
ACTIVITY_CALLS = frozenset(
    {
        "execute_activity",
        "execute_activity_method",
        "execute_activity_class",
        "start_activity",
        "start_activity_method",
        "start_activity_class",
        "execute_local_activity",
        "execute_local_activity_method",
        "execute_local_activity_class",
        "start_local_activity",
        "start_local_activity_method",
        "start_local_activity_class",
    }
)
# RetryPolicy's dataclass fields in order: the fourth positional argument is the maximum.
MAX_ATTEMPTS_POSITION = 3


def _name(func: ast.expr) -> str | None:
    if isinstance(func, ast.Name):
        return func.id
    if isinstance(func, ast.Attribute):
        return func.attr
    return None


def _keyword(call: ast.Call, name: str) -> ast.keyword | None:
    return next((k for k in call.keywords if k.arg == name), None)


def _spreads(call: ast.Call) -> bool:
    return any(k.arg is None for k in call.keywords)


def _unbounded_policy(call: ast.Call) -> str | None:
    """Why this RetryPolicy(...) may retry forever, or None."""
    if len(call.args) > MAX_ATTEMPTS_POSITION:
        value: ast.expr | None = call.args[MAX_ATTEMPTS_POSITION]
    else:
        keyword = _keyword(call, "maximum_attempts")
        value = keyword.value if keyword else None
    if value is None:
        if _spreads(call):
            return "RetryPolicy(**...) whose maximum_attempts cannot be checked"
        return "RetryPolicy(...) without maximum_attempts (0 = unlimited)"
    if isinstance(value, ast.Constant) and (not isinstance(value.value, int) or value.value <= 0):
        return f"RetryPolicy(maximum_attempts={value.value!r}) is unlimited"
    return None


def _unbounded_call(call: ast.Call) -> str | None:
    """Why this activity call may retry forever, or None."""
    keyword = _keyword(call, "retry_policy")
    if keyword is None:
        if _spreads(call):
            return f"{_name(call.func)}(**...) whose retry_policy cannot be checked"
        return f"{_name(call.func)}(...) without retry_policy (the SDK default is unlimited)"
    if isinstance(keyword.value, ast.Constant) and keyword.value.value is None:
        return f"{_name(call.func)}(retry_policy=None): the SDK default is unlimited"
    return None


def problems(path: Path, root: Path = ROOT) -> list[str]:
    tree = ast.parse(path.read_text(), filename=str(path))
    found = []
    for node in ast.walk(tree):
        if not isinstance(node, ast.Call):
            continue
        name = _name(node.func)
        why = None
        if name == "RetryPolicy":
            why = _unbounded_policy(node)
        elif name in ACTIVITY_CALLS:
            why = _unbounded_call(node)
        if why:
            found.append(f"{path.relative_to(root).as_posix()}:{node.lineno}: {why}")
    return found


def test_the_scan_sees_every_workflow_module() -> None:
    names = {p.name for p in WORKFLOW_FILES}
    assert {"export.py", "bulk_upload.py", "caption.py", "media_cleanup.py"} <= names
    assert {"maintenance.py", "generation.py", "shooting_generation.py"} <= names


@pytest.mark.parametrize("path", WORKFLOW_FILES, ids=[p.name for p in WORKFLOW_FILES])
def test_no_unbounded_retry_in_workflows(path: Path) -> None:
    found = problems(path)
    assert not found, "unbounded retries:\n" + "\n".join(found)


def test_the_scan_catches_what_it_is_for(tmp_path: Path) -> None:
    """The checker itself: each unbounded form is reported, the bounded ones are not."""
    source = tmp_path / "sample.py"
    source.write_text(
        "from temporalio.common import RetryPolicy\n"
        "A = RetryPolicy(maximum_interval=1)\n"
        "B = RetryPolicy(maximum_attempts=0)\n"
        "C = RetryPolicy(maximum_attempts=3)\n"
        "D = RetryPolicy(1, 2.0, 3, 4)\n"
        "async def run(workflow):\n"
        "    await workflow.execute_activity_method(f, 1, start_to_close_timeout=2)\n"
        "    await workflow.execute_activity(f, retry_policy=None)\n"
        "    workflow.start_activity_method(f, retry_policy=C)\n"
    )
    lines = sorted(int(p.split(":")[1]) for p in problems(source, root=tmp_path))
    assert lines == [2, 3, 7, 8]


@pytest.mark.parametrize(
    "policy", [retry_policies.PERSISTENT, retry_policies.FINAL_WRITE, retry_policies.BEST_EFFORT]
)
def test_shared_policies_are_bounded(policy: object) -> None:
    assert retry_policies.window_seconds(policy) < 3600  # type: ignore[arg-type]
