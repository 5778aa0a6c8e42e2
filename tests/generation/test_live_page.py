"""The live page in headless Chromium: log in, generate a shot, watch it complete live,
see the images. Keeps a screenshot at test-output/live-page.png."""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

import pytest
from fastapi import FastAPI

from tests.generation.conftest import make_shot
from tests.helpers import PASSWORD, Api, UserHandle
from tests.realtime.server import serve

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
OUTPUT = Path(__file__).resolve().parents[2] / "test-output"
# Flags for a closed network and a root user (see the machine notes).
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


@pytest.mark.skipif(not Path(CHROMIUM).exists(), reason="Debian chromium is not installed")
async def test_live_page_generation_turns_completed_without_reload(
    api: Api, user: UserHandle, worker: dict[str, Any], app: FastAPI
) -> None:
    from playwright.async_api import async_playwright

    world = await make_shot(api, user)
    shot_id = world["shot_ids"][0]
    async with serve(app) as base_url, async_playwright() as pw:
        browser = await pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            page = await browser.new_page(viewport={"width": 1280, "height": 800})
            # The page runs under its strict Content-Security-Policy: nothing it needs
            # (script, stylesheet, images from the store, the WebSocket) may be blocked.
            console: list[str] = []
            page.on("console", lambda message: console.append(message.text))
            await page.goto(f"{base_url}/app/")
            sheets = await page.evaluate("() => document.styleSheets.length")
            assert sheets == 1, "app.css did not load"
            await page.fill("input[name=username]", user.email)
            await page.fill("input[name=password]", PASSWORD)
            await page.click("#login-form button[type=submit]")
            await page.wait_for_selector("#ws-state.online", timeout=15_000)
            row = page.locator(f"#shot-{shot_id}")
            await row.wait_for(timeout=15_000)
            await row.locator('button[data-act="generate"]').click()
            # both placeholders are drawn from the first event, before any image exists
            placeholders = row.locator(".predictions .prediction")
            await placeholders.nth(1).wait_for(timeout=15_000)
            # the status changes arrive over the WebSocket: no reload happens here
            await row.locator('.gen-status[data-status="completed"]').wait_for(timeout=60_000)
            await row.locator(".shot-status.in_review").wait_for(timeout=15_000)
            images = row.locator(".thumbs img")
            await images.first.wait_for(timeout=15_000)
            await page.wait_for_function(
                "() => [...document.querySelectorAll('.thumbs img')]"
                ".every(i => i.complete && i.naturalWidth > 0)",
                timeout=15_000,
            )
            assert await images.count() == 2
            # ... and the placeholders were filled in place: the same two, now images
            assert await placeholders.count() == 2
            filled = row.locator('.prediction[data-status="completed"] img')
            assert await filled.count() == 2
            blocked = [text for text in console if "Content Security Policy" in text]
            assert blocked == [], blocked
            OUTPUT.mkdir(exist_ok=True)
            await page.screenshot(path=str(OUTPUT / "live-page.png"), full_page=True)
            # approve from the page
            await row.locator('button[data-act="approve"]').click()
            await row.locator(".shot-status.approved").wait_for(timeout=10_000)
        finally:
            await browser.close()
