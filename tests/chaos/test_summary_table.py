"""The summary table itself (pure formatting, no services)."""

from tests.chaos.conftest import ScenarioResult, summary_lines


def test_summary_table_has_one_row_per_scenario() -> None:
    lines = summary_lines(
        [ScenarioResult("worker SIGKILL", 3, 3, 0, 0), ScenarioResult("redis", 2, 1, 0, 1)]
    )
    assert lines[0] == "| scenario | runs | completed | duplicates | lost |"
    assert lines[2] == "| worker SIGKILL | 3 | 3 | 0 | 0 |"
    assert lines[3] == "| redis | 2 | 1 | 0 | 1 |"
    assert not ScenarioResult("redis", 2, 1, 0, 1).ok
