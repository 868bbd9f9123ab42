"""The Runs view in headless chromium: every job's runs, live, filtered by status, in pages."""

from __future__ import annotations

import asyncio
import re

import httpx
import pytest
from playwright.async_api import expect

from tests.browser.conftest import Shots, dashboard
from tests.browser.stack import Served, served

pytestmark = [pytest.mark.looptime(False), pytest.mark.asyncio(loop_scope="session")]
# Four runs each, all of which succeed, then one failed and one still running: 26 runs.
SUCCEEDING = {
    "script": {},
    "jar": {},
    "dbt": {},
    "pipeline": {},
    "wheel": {"table": "orders"},
    "report": {"region": "emea", "year": 2026},
}


async def many_runs(s: Served) -> None:
    async with httpx.AsyncClient(base_url=s.url, timeout=30) as api:
        for _ in range(4):
            started = await asyncio.gather(
                *(
                    api.post(f"/api/jobs/{key}/run?stream=true", json={"params": params})
                    for key, params in SUCCEEDING.items()
                )
            )
            assert all(reply.status_code == 200 for reply in started)
        await api.post("/api/jobs/flaky/run?stream=true", json={})
        long = {"emulator_duration_ms": "600000"}
        await api.post("/api/jobs/flaky/run", json={"params": long})


async def test_the_runs_view_lists_every_jobs_runs_filtered_and_paged(browser, shots: Shots):
    async with served(speed=20) as s:
        await many_runs(s)
        async with dashboard(browser, s.url) as page:
            pipeline = page.get_by_role("region", name="pipeline", exact=True)
            await expect(pipeline.locator(".figures")).to_contain_text("(4 of 4)")
            flaky = page.get_by_role("region", name="flaky", exact=True)
            await expect(flaky.locator(".latest")).to_have_text(re.compile("Running"))
            await pipeline.evaluate("(card) => card.scrollIntoView()")  # the multi-task jobs
            await shots.take(page, "jobs", docs="dashboard.png")
            await (
                page.get_by_role("navigation", name="Views")
                .get_by_role("link", name="Runs")
                .click()
            )
            await expect(page).to_have_url(re.compile("#runs$"))
            await expect(page.get_by_role("heading", name="Runs", exact=True)).to_be_focused()
            await expect(page.get_by_role("link", name="Runs")).to_have_attribute(
                "aria-current", "page"
            )
            table = page.get_by_role("table", name="Runs", exact=True)
            await expect(table.get_by_role("columnheader")).to_have_text(
                ["Job", "Run", "State", "Started", "Duration", "Who"]
            )
            rows = table.locator("tbody tr")
            await expect(rows).to_have_count(20)
            await expect(page.get_by_text("Page 1 of 2")).to_be_visible()
            await expect(page.get_by_role("status").filter(has_text="runs")).to_have_text(
                "26 runs, newest first; showing 1\u201320."
            )
            await expect(rows.first.locator("td").first).to_have_text("flaky")  # the newest
            await shots.take(page, "all", docs="dashboard-runs.png")
            await page.get_by_role("button", name="Next page").click()
            await expect(rows).to_have_count(6)
            await expect(page.get_by_role("button", name="Next page")).to_be_disabled()

            status = page.get_by_label("Status")
            await expect(status.get_by_role("option")).to_have_text(
                ["All", "Active", "Succeeded", "Failed"]
            )
            await status.select_option("Failed")
            await expect(page).to_have_url(re.compile("#runs=failed$"))
            await expect(rows).to_have_count(1)
            await expect(rows.locator(".state")).to_have_text(["Failed"])
            await shots.take(page, "failed")
            await status.select_option("Active")
            await expect(rows).to_have_count(1)
            await expect(rows.locator(".state")).to_have_text([re.compile("Starting|Running")])
            await status.select_option("Succeeded")
            await expect(rows).to_have_count(20)
            await expect(page.get_by_text("Page 1 of 2")).to_be_visible()
            await expect(rows.locator(".state")).to_have_text(["Succeeded"] * 20)


async def test_the_runs_view_is_live_and_each_row_opens_its_run(browser, shots: Shots):
    async with served(speed=20) as s, dashboard(browser, s.url, path="/#runs") as page:
        table = page.get_by_role("table", name="Runs", exact=True)
        rows = table.locator("tbody tr")
        await expect(page.get_by_role("status").filter(has_text="runs")).to_have_text("No runs.")
        # Live: runs started elsewhere show up without a reload.
        async with httpx.AsyncClient(base_url=s.url, timeout=20) as api:
            await api.post("/api/jobs/script/run?stream=true", json={})
            await api.post("/api/jobs/etl/run", json={"params": {"run_date": "2026-11-29"}})
        await expect(rows.locator("td:first-child")).to_have_text(["etl", "script"], timeout=8_000)
        await shots.take(page, "live")
        # Each row opens its run's view (a click anywhere on it, or its link).
        run_id = await rows.nth(1).get_attribute("data-run-id")
        await rows.nth(1).locator("td").last.click()
        heading = page.get_by_role("heading", name=f"Run {run_id} of script")
        await expect(heading).to_be_focused()
        await expect(table).to_be_hidden()
        await page.get_by_role("button", name="Close").click()
        await expect(page).to_have_url(re.compile("#runs$"))  # back where it came from
        await expect(table).to_be_visible()
        await rows.nth(0).get_by_role("link").click()
        await expect(
            page.get_by_role("heading", name=re.compile(r"^Run \d+ of etl$"))
        ).to_be_focused()
