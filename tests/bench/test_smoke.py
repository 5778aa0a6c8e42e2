"""`sartiq bench` end to end at tiny sizes on the session's services: every benchmark runs
against its baseline and yields sane figures (the numbers themselves mean nothing here),
each with the load it was measured at, and no benchmark leaves anything the product would
act on after it: no generation waiting for the stuck-generation reconciler, no baseline
rows, no open workflow, no schedule."""

from __future__ import annotations

from pathlib import Path

import asyncpg

from bench import quiesce, report
from bench.bare import BARE_QUEUE
from bench.runner import ALL, Scale, _measure
from bench.stack import running
from core.temporal import TASK_QUEUES
from devstack.database import plain_pg


async def test_every_benchmark_runs_against_its_baseline(
    stack_env: dict[str, str], tmp_path: Path
) -> None:
    lines: list[str] = []
    async with running(stack_env, tmp_path, lines.append) as stack:
        paused = quiesce.bench_schedule_ids(stack.prefix)
        for sid in paused:
            assert (await stack.client.get_schedule_handle(sid).describe()).schedule.state.paused
        figures = await _measure(stack, list(ALL), Scale.quick())
        stack.check()
        conn = await asyncpg.connect(plain_pg(stack.settings.DATABASE_URL))
        try:
            # P3's generations (ours and the bare inserts) never ran: left, the reconciler
            # would start them all while later figures are measured.
            unfinished = await conn.fetchval(
                "SELECT count(*) FROM generation WHERE status IN ('pending', 'processing')"
            )
            # P4's COPY went into an organization of its own, emptied after.
            products_per_org = await conn.fetch(
                "SELECT organization_id, count(*) FROM product GROUP BY organization_id"
            )
        finally:
            await conn.close()
        open_left = await quiesce.open_workflows(stack.client, stack.polled_queues)
        idle_queues = [f"{stack.prefix}idle-{q}" for q in (*TASK_QUEUES, BARE_QUEUE)]
        idle_left = await quiesce.open_workflows(stack.client, idle_queues)
    assert unfinished == 0
    # Products of P1/P2's, P3's and P4's upload organizations; the COPY's one is empty.
    assert len(products_per_org) == 3, products_per_org
    assert open_left == 0 and idle_left == 0
    assert f"deleted the run's {len(paused)} schedule(s)" in lines
    by_id = {f.id: f for f in figures}
    assert set(by_id) == {"P1", "P2@1", "P2@3", "P3-get", "P3-post", "P4", "P5", "P6"}
    for figure in figures:
        assert figure.ours > 0 and figure.baseline > 0, figure
        assert figure.ratio > 0, figure
        conditions = figure.conditions
        assert conditions["cpus"] > 0 and conditions["load_1m_max"] >= 0, figure
        assert conditions["open_left"] == 0, figure
    assert by_id["P1"].details["activities_per_generation"] >= 3
    assert by_id["P1"].details["signals_per_generation"] >= 1
    assert by_id["P2@3"].details["samples"] == 3
    assert by_id["P4"].details["worker_rss_peak_mib"] > 0
    assert by_id["P5"].details["counts"]["orphan_objects"] == Scale.quick().orphan_objects
    assert by_id["P6"].details["bad_logins_per_second"] > 0
    assert len(report.table(figures).splitlines()) == len(figures) + 2
