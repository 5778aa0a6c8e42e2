"""The Temporal UI after `sartiq demo`, in headless Chromium: the organization's runs, with
their summaries, the workflows' own statuses and our `SartiqStatus` column side by side.
Keeps a screenshot at test-output/temporal-ui-runs.png (issue 14)."""

from __future__ import annotations

import asyncio
import contextlib
import urllib.parse
from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from temporalio.client import Client

from core.config import Settings
from core.temporal import STATUS
from devstack.demo import Demo
from tests.generation.support import eventually
from tests.generation.test_live_page import CHROMIUM, CHROMIUM_ARGS, OUTPUT
from tests.realtime.server import serve


async def _ui_up(url: str) -> bool:
    try:
        async with httpx.AsyncClient(timeout=3) as http:
            return (await http.get(url)).status_code < 500
    except httpx.HTTPError:
        return False


async def _text_with(page: Any, needle: str) -> str | None:
    """The page's text, its frames' included (the UI renders markdown in sandboxed
    iframes), once it holds `needle`."""
    texts = []
    for frame in page.frames:
        with contextlib.suppress(Exception):  # a frame may go away while read
            texts.append(await frame.evaluate("() => document.body ? document.body.innerText : ''"))
    text = "\n".join(texts)
    return text if needle in text else None


@pytest.mark.skipif(not Path(CHROMIUM).exists(), reason="Debian chromium is not installed")
async def test_the_ui_lists_the_demo_runs_with_summaries_and_truthful_statuses(
    app: FastAPI, worker: dict[str, Any], temporal: Client, settings: Settings
) -> None:
    from playwright.async_api import async_playwright

    ui = settings.TEMPORAL_UI_URL.rstrip("/")
    if not await _ui_up(ui):
        pytest.skip(f"no Temporal UI at {ui} (a Temporal without one is in use)")
    async with serve(app) as base_url:
        demo = Demo(base_url, say=lambda _line: None)
        results = await asyncio.to_thread(demo.run, ui)
    assert [r["status"] for r in results] == ["completed", "completed", "failed", "cancelled"]
    org = demo.org
    wanted = {r["workflow_id"]: r["status"] for r in results}

    async def closed() -> dict[str, str] | None:
        listed = {
            r.id: r.typed_search_attributes.get(STATUS)
            async for r in temporal.list_workflows(f"OrganizationId = '{org}'")
        }
        return listed if all(listed.get(w) == s for w, s in wanted.items()) else None

    # The same truth visibility serves the UI: every generation's SartiqStatus is its row's.
    await eventually(closed, within=60, what="the demo's runs closed", every=0.5)

    failed = next(r["workflow_id"] for r in results if r["status"] == "failed")
    query = urllib.parse.quote(f'OrganizationId="{org}"')
    base = f"{ui}/namespaces/{settings.TEMPORAL_NAMESPACE}/workflows"
    async with async_playwright() as pw:
        browser = await pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            page = await browser.new_page(viewport={"width": 1600, "height": 760})
            await page.goto(f"{base}?query={query}")
            await page.get_by_text("GenerationWorkflow").first.wait_for(timeout=30_000)
            # As an operator would through "Configure Columns": our status and entity type
            # beside the workflow's own status.
            await page.click("[data-testid=workflows-summary-table-configuration-button]")
            for column in (STATUS.name, "EntityType"):
                await page.click(f"[data-testid='orderable-list-item-{column}-add-button']")
            for column in ("Run ID", "End"):
                await page.click(f"[data-testid='orderable-list-item-{column}-remove-button']")
            await page.click("[data-testid=drawer-close-button]")
            await page.locator("[data-testid=drawer-close-button]").wait_for(state="hidden")
            await page.wait_for_timeout(500)  # the drawer's slide-out
            await page.get_by_role("columnheader", name=STATUS.name).wait_for(timeout=10_000)
            listed = await page.inner_text("table")
            OUTPUT.mkdir(exist_ok=True)
            await page.screenshot(path=str(OUTPUT / "temporal-ui-runs.png"))
            # One run: its summary and details as the start gave them.
            await page.goto(f"{base}/{failed}")
            await page.get_by_text("User Metadata").first.click(timeout=30_000)
            detail = await eventually(
                lambda: _text_with(page, "Shooting: "), within=30, what="the run's details"
            )
            await page.screenshot(path=str(OUTPUT / "temporal-ui-run.png"))
        finally:
            await browser.close()
    rows = [line for line in listed.splitlines() if "generation-" in line]
    assert any("failed" in row for row in rows), listed  # beside the workflow's "Completed"
    assert any("cancelled" in row.lower() for row in rows), listed
    assert "Shooting:" in detail and "Generation · " in detail
