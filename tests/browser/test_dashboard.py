"""The dashboard in headless chromium, against the service and the emulator over loopback."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import httpx
import pytest
from playwright.async_api import BrowserContext, Page, expect

from tests.browser.conftest import Shots
from tests.browser.stack import Served, served
from tests.factories import DEMO_JOB_IDS

pytestmark = [pytest.mark.looptime(False), pytest.mark.asyncio(loop_scope="session")]


@asynccontextmanager
async def dashboard(browser: BrowserContext, s: Served, path: str = "/") -> AsyncIterator[Page]:
    """The page, loaded; fails the test if a script on it throws."""
    page = await browser.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda error: errors.append(str(error)))
    await page.goto(s.url + path)
    await expect(page.get_by_role("region", name="etl", exact=True)).to_be_visible()
    yield page
    assert errors == []


def status(page: Page) -> object:
    return page.get_by_role("status")


def seen(page: Page) -> object:
    return page.get_by_role("list", name="States seen").get_by_role("listitem")


async def test_the_page_lists_every_demo_job_with_a_labelled_form(browser, shots: Shots):
    async with served(speed=10) as s, dashboard(browser, s) as page:
        await shots.take(page, "jobs")
        for key in DEMO_JOB_IDS:
            region = page.get_by_role("region", name=key, exact=True)
            await expect(region).to_be_visible()
            await expect(region.get_by_role("button", name="Run", exact=True)).to_be_visible()
        etl = page.get_by_role("region", name="etl", exact=True)
        await expect(etl.get_by_label("run_date")).to_have_attribute("type", "date")
        await expect(etl.get_by_label("run_date")).to_have_attribute("aria-required", "true")
        await expect(etl.get_by_role("checkbox", name="dry_run")).not_to_be_checked()
        await expect(etl.get_by_role("combobox", name="env")).to_have_value("dev")  # default
        report = page.get_by_role("region", name="report", exact=True)
        options = report.get_by_role("combobox", name="region").get_by_role("option")
        await expect(options).to_have_text(["—", "amer", "apac", "emea"])
        await expect(report.get_by_role("spinbutton", name="year")).to_have_attribute("min", "2000")
        script = page.get_by_role("region", name="script", exact=True)
        await script.get_by_role("button", name="Add args item").click()
        await script.get_by_role("button", name="Add args item").click()
        args = script.get_by_role("group", name="args").get_by_role("textbox")
        await expect(args).to_have_count(2)
        await expect(script.get_by_role("textbox", name="args 2")).to_be_focused()
        await shots.take(page, "list-inputs")


async def test_bad_values_show_their_errors_beside_their_fields(browser, shots: Shots):
    async with served(speed=10) as s, dashboard(browser, s) as page:
        report = page.get_by_role("region", name="report", exact=True)
        await report.get_by_role("combobox", name="region").select_option("emea")
        await report.get_by_role("spinbutton", name="year").fill("1999")
        await report.get_by_role("button", name="Run", exact=True).click()
        year = report.get_by_role("spinbutton", name="year")
        await expect(year).to_have_attribute("aria-invalid", "true")
        # The service's message, beside the field it names (and tied to it for screen readers).
        await expect(year).to_have_accessible_description(
            "must be a whole number from 2000 to 2100"
        )
        await expect(report.get_by_role("combobox", name="region")).not_to_have_attribute(
            "aria-invalid", "true"
        )
        etl = page.get_by_role("region", name="etl", exact=True)
        await etl.get_by_role("button", name="Run", exact=True).click()
        await expect(etl.get_by_label("run_date")).to_have_accessible_description(
            re.compile("required", re.IGNORECASE)
        )
        await shots.take(page, "errors-by-fields")
        assert s.emulator.runs == {}  # nothing reached Databricks


async def test_a_multi_task_run_goes_to_success_with_its_task_timeline(browser, shots: Shots):
    async with served(speed=8) as s, dashboard(browser, s) as page:
        pipeline = page.get_by_role("region", name="pipeline", exact=True)
        await pipeline.get_by_role("button", name="Run", exact=True).click()
        await expect(status(page)).to_have_text("PENDING")
        await shots.take(page, "pending")
        await expect(status(page)).to_have_text("RUNNING")
        timeline = page.get_by_role("img", name=re.compile("^Task timeline"))
        bars = timeline.locator("g[data-task] rect")
        await expect(bars).to_have_count(1)  # ingest only: the others wait for it
        await shots.take(page, "running-first-task")
        await expect(bars).to_have_count(2)
        outputs = page.locator(".task-output pre")
        await expect(outputs).to_have_text(['{"files": 12}'])  # ingest's, once it has finished
        await shots.take(page, "running-second-task")
        await expect(page.get_by_role("button", name="Cancel")).to_be_visible()
        await expect(status(page)).to_have_text("TERMINATED SUCCESS", timeout=15_000)
        await expect(bars).to_have_count(3)
        await expect(page.get_by_role("button", name="Cancel")).to_be_hidden()
        await expect(seen(page).first).to_have_text("PENDING")
        await expect(seen(page).last).to_have_text("TERMINATED SUCCESS")
        await expect(outputs).to_have_text(
            ['{"files": 12}', "transformed 12 files\n", '{"published": true}']
        )
        await expect(pipeline.locator(".latest")).to_have_text("Latest run: TERMINATED SUCCESS")
        await expect(pipeline.get_by_role("img", name=re.compile("^Last 1 runs"))).to_be_visible()
        (run,) = s.runs_of(DEMO_JOB_IDS["pipeline"])
        await pipeline.get_by_text("Run history").click()
        rows = pipeline.get_by_role("row")
        await expect(rows).to_have_count(2)  # the header and the run
        await expect(rows.nth(1).get_by_role("cell")).to_have_text(
            [
                str(run.run_id),
                re.compile(r"\d"),
                re.compile(r"s$"),
                "SUCCESS",
                "emulator@example.com",
            ]
        )
        await shots.take(page, "success")
        assert page.url.endswith(f"#run=pipeline/{run.run_id}")
        # The run's page "in Databricks" is the emulator's page of that run.
        link = page.get_by_role("link", name="Open in Databricks")
        async with page.expect_popup() as popup_info:
            await link.click()
        popup = await popup_info.value
        await expect(popup.get_by_role("heading", level=1)).to_have_text(
            f"daily-pipeline: run {run.run_id}"
        )
        await expect(popup.locator("#result")).to_have_text("SUCCESS")
        await shots.take(popup, "run-page-in-the-emulator")


async def test_cancel_ends_a_long_run_as_canceled(browser, shots: Shots):
    async with served(speed=1) as s, dashboard(browser, s) as page:
        etl = page.get_by_role("region", name="etl", exact=True)
        await etl.get_by_label("run_date").fill("2026-11-29")
        await etl.get_by_role("button", name="Run", exact=True).click()
        await expect(status(page)).to_have_text(re.compile("PENDING|RUNNING"))
        await shots.take(page, "before-cancel")
        await page.get_by_role("button", name="Cancel").click()
        await expect(status(page)).to_have_text("TERMINATED CANCELED")
        await shots.take(page, "canceled")
        (run,) = s.runs_of(DEMO_JOB_IDS["etl"])
        assert run.cancel_ms is not None


async def test_a_reload_mid_run_resumes_without_a_gap(browser, shots: Shots):
    async with served(speed=4) as s, dashboard(browser, s) as page:
        etl = page.get_by_role("region", name="etl", exact=True)
        await etl.get_by_label("run_date").fill("2026-11-29")
        await etl.get_by_role("button", name="Run", exact=True).click()
        await expect(status(page)).to_have_text("RUNNING")
        url = page.url
        await page.reload()
        await expect(status(page)).to_have_text(re.compile("RUNNING|TERMINATING"))
        await shots.take(page, "reloaded-mid-run")
        assert page.url == url
        await expect(status(page)).to_have_text("TERMINATED SUCCESS")
        # Replayed from the run's first event, then live: every state, in order, once.
        await expect(seen(page)).to_have_text(
            ["PENDING", "RUNNING", "TERMINATING", "TERMINATED SUCCESS"]
        )
        await shots.take(page, "finished-after-reload")
        assert len(s.runs_of(DEMO_JOB_IDS["etl"])) == 1


async def test_a_run_started_elsewhere_shows_up_on_its_job(browser, shots: Shots):
    async with served(speed=1) as s, dashboard(browser, s) as page:
        etl = page.get_by_role("region", name="etl", exact=True)
        await expect(etl.locator(".latest")).to_have_text("Latest run: never run")
        async with httpx.AsyncClient(base_url=s.url) as api:
            started = await api.post(
                "/api/jobs/etl/run", json={"params": {"run_date": "2026-11-29"}}
            )
        assert started.status_code == 200
        # The page looks again every 5 s; no reload, no click.
        await expect(etl.locator(".latest")).to_have_text(
            re.compile("Latest run: (PENDING|RUNNING)"), timeout=8_000
        )
        await expect(etl.locator("svg rect.bar")).to_have_count(1)
        await shots.take(page, "started-elsewhere")


async def test_a_job_the_caller_may_not_run_has_no_run_button(browser):
    async with served(speed=10) as s:
        page = await browser.new_page()

        async def without_report_runs(route):
            # The front door's catalog says canRun per job; this one says no for report.
            response = await route.fetch()
            body = await response.json()
            for job in body["jobs"]:
                job["canRun"] = job["key"] != "report"
            await route.fulfill(response=response, json=body)

        await page.route("**/api/jobs", without_report_runs)
        await page.goto(s.url)
        report = page.get_by_role("region", name="report", exact=True)
        await expect(report).to_contain_text("You may view this job but not run it.")
        await expect(report.get_by_role("button", name="Run", exact=True)).to_have_count(0)
        etl = page.get_by_role("region", name="etl", exact=True)
        await expect(etl.get_by_role("button", name="Run", exact=True)).to_be_visible()
