"""Every recorded workflow history still replays on the current workflow code.

Histories are recorded from real runs (`SARTIQ_RECORD_HISTORIES=1 uv run pytest
tests/workflows`) and committed; a change that breaks determinism fails here.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from temporalio.client import WorkflowHistory
from temporalio.worker import Replayer

from core.payloads import data_converter
from workflows.registry import ALL_WORKFLOWS

HISTORIES = sorted((Path(__file__).parent / "histories").glob("*.json"))


def _load(path: Path) -> WorkflowHistory:
    return WorkflowHistory.from_json(path.stem, path.read_text())


def test_histories_are_recorded() -> None:
    assert HISTORIES, "no recorded histories: run with SARTIQ_RECORD_HISTORIES=1 to record"


@pytest.mark.parametrize("path", HISTORIES, ids=[p.stem for p in HISTORIES])
async def test_history_replays(path: Path) -> None:
    history = _load(path)
    replayer = Replayer(workflows=ALL_WORKFLOWS, data_converter=data_converter)
    await replayer.replay_workflow(history)
