"""The dashboard on a phone (390 by 844 px) and by keyboard: the run view opens in sight, with
focus, its timeline readable, and no view scrolls sideways."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator

import pytest
import pytest_asyncio
from playwright.async_api import Browser, BrowserContext, Page, expect

from tests.browser.conftest import Shots, dashboard
from tests.browser.stack import served

pytestmark = [pytest.mark.looptime(False), pytest.mark.asyncio(loop_scope="session")]
PHONE = {"width": 390, "height": 844}


@pytest_asyncio.fixture(loop_scope="session")
async def phone(chromium: Browser) -> AsyncIterator[BrowserContext]:
    context = await chromium.new_context(
        viewport=PHONE, device_scale_factor=2, is_mobile=True, has_touch=True
    )
    context.set_default_timeout(10_000)
    try:
        yield context
    finally:
        await context.close()


async def sideways(page: Page) -> int:
    """How far the page could scroll sideways (0: it fits)."""
    return await page.evaluate(  # type: ignore[no-any-return]
        "document.documentElement.scrollWidth - document.documentElement.clientWidth"
    )


async def test_on_a_phone_the_run_view_opens_in_sight_and_nothing_scrolls_sideways(
    phone, shots: Shots
):
    async with served(speed=8) as s, dashboard(phone, s.url) as page:
        assert await sideways(page) == 0
        await shots.take(page, "jobs")
        flaky = page.get_by_role("region", name="flaky", exact=True)
        run = flaky.get_by_role("button", name="Run", exact=True)
        await run.scroll_into_view_if_needed()
        assert await page.evaluate("scrollY") > 2_000  # the card is far down the page
        await run.tap()
        heading = page.get_by_role("heading", name=re.compile(r"^Run \d+ of flaky$"))
        await expect(heading).to_be_focused()
        await expect(heading).to_be_in_viewport()
        view = page.get_by_role("region", name=re.compile(r"^Run \d+ of flaky$"))
        await expect(view.get_by_role("status")).to_be_in_viewport()
        await expect(view.get_by_role("status")).to_have_text("Failed", timeout=15_000)
        await expect(view.get_by_role("checkbox", name="Repair load")).to_be_visible()
        await shots.take(page, "failed-run")
        assert await sideways(page) == 0
        timeline = view.get_by_role("img", name=re.compile("^Task timeline"))
        await timeline.scroll_into_view_if_needed()
        await page.screenshot(path=str(shots.dir / "timeline-in-view.png"))
        texts = await timeline.locator("text").evaluate_all(
            """(nodes) => nodes.map((n) => {
                const box = n.getBoundingClientRect();
                return { text: n.textContent, size: parseFloat(getComputedStyle(n).fontSize),
                         left: box.left, right: box.right };
            })"""
        )
        labels = [t["text"] for t in texts]
        assert {"extract", "load", "notify"} <= set(labels)
        for text in texts:  # drawn at the phone's width: 11-12 px text, all of it on screen
            assert text["size"] >= 11, text
            assert text["left"] >= 0, text
            assert text["right"] <= PHONE["width"], text
        await view.get_by_role("button", name="Repair failed tasks").tap()
        await expect(view.get_by_role("status")).to_have_text("Succeeded", timeout=15_000)
        await view.scroll_into_view_if_needed()
        await page.evaluate("scrollTo(0, 0)")
        await shots.take(page, "repaired", docs="dashboard-mobile-run.png")
        assert await sideways(page) == 0
        await page.get_by_role("link", name="Runs").tap()
        await expect(
            page.get_by_role("table", name="Runs", exact=True).locator("tbody tr")
        ).to_have_count(1)
        await shots.take(page, "runs")
        assert await sideways(page) == 0


async def test_by_keyboard_run_moves_focus_to_the_run_view_and_close_goes_back(
    browser, shots: Shots
):
    async with served(speed=8) as s, dashboard(browser, s.url) as page:
        pipeline = page.get_by_role("region", name="pipeline", exact=True)
        await pipeline.get_by_role("button", name="Run", exact=True).focus()
        await page.keyboard.press("Enter")
        heading = page.get_by_role("heading", name=re.compile(r"^Run \d+ of pipeline$"))
        await expect(heading).to_be_focused()
        await expect(heading).to_be_in_viewport()
        # Tab goes on within the run view: Close, then the state (its raw state on focus).
        await page.keyboard.press("Tab")
        await expect(page.get_by_role("button", name="Close")).to_be_focused()
        await page.keyboard.press("Tab")
        state = page.get_by_role("status").locator(".state")
        await expect(state).to_be_focused()
        await expect(state).to_have_attribute("data-raw", re.compile("PENDING|RUNNING"))
        await shots.take(page, "raw-state-on-focus")
        await page.keyboard.press("Shift+Tab")
        await page.keyboard.press("Enter")
        await expect(heading).to_be_hidden()
        await expect(page).not_to_have_url(re.compile("#run="))
