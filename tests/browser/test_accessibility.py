"""An automated accessibility audit of each view of the dashboard: axe-core (the copy shipped in
axe-playwright-python), no serious or critical violation, on a desktop and on a phone."""

from __future__ import annotations

import re
from typing import Any

import pytest
from axe_playwright_python.async_playwright import Axe
from playwright.async_api import Page, expect

from tests.browser.conftest import Shots, dashboard
from tests.browser.stack import served

pytestmark = [pytest.mark.looptime(False), pytest.mark.asyncio(loop_scope="session")]
# WCAG 2.2 A and AA, and axe's own best practices.
RULES = {
    "runOnly": {
        "type": "tag",
        "values": ["wcag2a", "wcag2aa", "wcag21aa", "wcag22aa", "best-practice"],
    }
}


async def serious(page: Page) -> list[dict[str, Any]]:
    """The serious and critical violations on the page as it is now, with where each is."""
    results = await Axe().run(page, options={"resultTypes": ["violations"], **RULES})
    return [
        {"rule": v["id"], "impact": v["impact"], "where": [n["target"] for n in v["nodes"]]}
        for v in results.response["violations"]
        if v["impact"] in ("serious", "critical")
    ]


async def test_every_view_has_no_serious_or_critical_violation(browser, shots: Shots):
    found: dict[str, list[dict[str, Any]]] = {}
    async with served(speed=8) as s, dashboard(browser, s.url) as page:
        found["jobs"] = await serious(page)
        await (
            page.get_by_role("region", name="flaky", exact=True)
            .get_by_role("button", name="Run", exact=True)
            .click()
        )
        view = page.get_by_role("region", name=re.compile(r"^Run \d+ of flaky$"))
        await expect(view.get_by_role("status")).to_have_text("Failed", timeout=15_000)
        await expect(view.get_by_role("table", name="Tasks", exact=True)).to_be_visible()
        await expect(page.get_by_role("table", name="Last 1 runs of flaky by task")).to_be_visible()
        found["failed run, jobs with runs"] = await serious(page)
        await view.get_by_role("button", name="Repair failed tasks").click()
        await expect(view.get_by_role("status")).to_have_text("Succeeded", timeout=15_000)
        await expect(view.get_by_role("region", name="Repair history")).to_be_visible()
        found["repaired run"] = await serious(page)
        await page.get_by_role("link", name="Runs").click()
        await expect(
            page.get_by_role("table", name="Runs", exact=True).locator("tbody tr")
        ).to_have_count(1)
        found["runs"] = await serious(page)
        await page.get_by_role("region", name="etl", exact=True).count()
        await page.get_by_role("link", name="Jobs").click()
        etl = page.get_by_role("region", name="etl", exact=True)
        await etl.get_by_label("run_date").fill("2026-11-29")
        await etl.get_by_role("button", name="Run", exact=True).click()
        await page.get_by_role("button", name="Cancel", exact=True).click()
        await expect(page.get_by_role("dialog")).to_be_visible()
        found["cancel dialog"] = await serious(page)
        await shots.take(page, "dialog")
        await page.keyboard.press("Escape")
        await (
            page.get_by_role("region", name="report", exact=True)
            .get_by_role("button", name="Run", exact=True)
            .click()
        )
        await expect(page.get_by_role("spinbutton", name="year")).to_have_attribute(
            "aria-invalid", "true"
        )
        found["form errors"] = await serious(page)
    assert found == {view: [] for view in found}


async def test_the_key_form_of_token_mode_has_no_serious_or_critical_violation(browser):
    async with served(speed=8, token=True) as s, dashboard(browser, s.url, ready=None) as page:
        form = page.get_by_role("form", name="Sign in with an API key")
        await form.get_by_role("textbox", name="API key").fill("wrong")
        await form.get_by_role("button", name="Use this key").click()
        await expect(form.get_by_role("alert")).to_contain_text("refused")
        assert await serious(page) == []


async def test_a_phone_in_dark_mode_has_no_serious_or_critical_violation(chromium):
    phone = await chromium.new_context(
        viewport={"width": 390, "height": 844}, is_mobile=True, color_scheme="dark"
    )
    try:
        async with served(speed=8) as s, dashboard(phone, s.url) as page:
            jobs = await serious(page)
            await (
                page.get_by_role("region", name="flaky", exact=True)
                .get_by_role("button", name="Run", exact=True)
                .click()
            )
            status = page.get_by_role("status").filter(has=page.locator(".state"))
            await expect(status).to_have_text("Failed", timeout=15_000)
            run = await serious(page)
    finally:
        await phone.close()
    assert (jobs, run) == ([], [])
