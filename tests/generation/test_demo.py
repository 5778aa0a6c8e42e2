"""`sartiq demo` against a live API: every kind of run ends where the demo says it does."""

from __future__ import annotations

import asyncio
from typing import Any

from fastapi import FastAPI

from devstack.demo import Demo
from tests.realtime.server import serve


async def test_demo_runs_against_a_live_stack(app: FastAPI, worker: dict[str, Any]) -> None:
    lines: list[str] = []
    async with serve(app) as base_url:
        demo = Demo(base_url, say=lines.append)
        results = await asyncio.to_thread(demo.run, "http://temporal-ui.example")
    assert [r["status"] for r in results] == ["completed", "completed", "failed", "cancelled"]
    assert results[1]["generation_type"] == "AGENTIC" and results[1]["best_score"] == 0.85
    text = "\n".join(lines)
    assert "export → completed" in text
    assert "bulk upload → completed, 5 products created" in text
    assert "OrganizationId" in text and "/app/" in text
