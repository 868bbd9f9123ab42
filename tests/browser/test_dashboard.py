"""The dashboard's jobs in headless chromium: cards, forms, a run followed live, reloads."""

from __future__ import annotations

import re

import httpx
import pytest
from playwright.async_api import expect

from tests.browser.conftest import Shots, dashboard
from tests.browser.stack import served
from tests.factories import DEMO_JOB_IDS

pytestmark = [pytest.mark.looptime(False), pytest.mark.asyncio(loop_scope="session")]


def run_view(page, key: str):
    return page.get_by_role("region", name=re.compile(rf"^Run \d+ of {key}$"))


async def test_each_job_card_has_its_name_description_and_a_labelled_form_with_help(
    browser, shots: Shots
):
    async with served(speed=10) as s, dashboard(browser, s.url) as page:
        await shots.take(page, "jobs")
        for key in DEMO_JOB_IDS:
            region = page.get_by_role("region", name=key, exact=True)
            await expect(region).to_be_visible()
            await expect(region.get_by_role("button", name="Run", exact=True)).to_be_visible()
        etl = page.get_by_role("region", name="etl", exact=True)
        # The Databricks job's name and description (jobs/get), not only the key.
        await expect(etl.locator(".job-name")).to_have_text("nightly-sales-etl")
        await expect(etl.locator(".description")).to_have_text(
            "Loads one day of sales into the warehouse."
        )
        run_date = etl.get_by_label("run_date")
        await expect(run_date).to_have_attribute("type", "date")
        await expect(run_date).to_have_attribute("aria-required", "true")
        # The parameter's description from the config: its help, and its accessible description.
        await expect(run_date).to_have_accessible_description("The day of sales to load.")
        await expect(etl.get_by_role("checkbox", name="dry_run")).not_to_be_checked()
        await expect(etl.get_by_role("combobox", name="env")).to_have_value("dev")  # default
        wheel = page.get_by_role("region", name="wheel", exact=True)
        table = wheel.get_by_role("textbox", name="table")
        await expect(table).not_to_have_attribute("placeholder", re.compile("."))  # no regex
        await expect(table).to_have_accessible_description(
            "Lower-case letters and underscores, e.g. sales_orders."
        )
        await expect(wheel.get_by_role("spinbutton", name="limit")).to_have_accessible_description(
            "At most this many rows. From 1 to 1000."
        )
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
        await expect(page.get_by_role("region", name="dbt", exact=True)).to_contain_text(
            "No runs yet."
        )
        await shots.take(page, "list-inputs")


async def test_bad_values_show_the_services_messages_beside_their_fields(browser, shots: Shots):
    async with served(speed=10) as s, dashboard(browser, s.url) as page:
        async with httpx.AsyncClient(base_url=s.url) as api:
            said = await api.post(
                "/api/jobs/report/run", json={"params": {"region": "emea", "year": 1999}}
            )
            missing = await api.post("/api/jobs/etl/run", json={"params": {}})
        report = page.get_by_role("region", name="report", exact=True)
        await report.get_by_role("combobox", name="region").select_option("emea")
        await report.get_by_role("spinbutton", name="year").fill("1999")
        await report.get_by_role("button", name="Run", exact=True).click()
        year = report.get_by_role("spinbutton", name="year")
        await expect(year).to_have_attribute("aria-invalid", "true")
        # The service's own words, as it sent them, beside the field they are about (and its
        # accessible description, after the field's help).
        (year_error,) = said.json()["fields"]
        assert year_error["message"] == "must be a whole number from 2000 to 2100"
        await expect(year).to_have_accessible_description(
            f"The year to report on. From 2000 to 2100. {year_error['message']}"
        )
        await expect(report.locator(".field-error").filter(has_text=re.compile("."))).to_have_text(
            [year_error["message"]]
        )
        await expect(report.get_by_role("combobox", name="region")).not_to_have_attribute(
            "aria-invalid", "true"
        )
        etl = page.get_by_role("region", name="etl", exact=True)
        await etl.get_by_role("button", name="Run", exact=True).click()
        (run_date_error,) = missing.json()["fields"]
        await expect(etl.get_by_label("run_date")).to_have_accessible_description(
            f"The day of sales to load. {run_date_error['message']}"
        )
        await shots.take(page, "errors-by-fields")
        assert s.emulator.runs == {}  # nothing reached Databricks


async def test_a_multi_task_run_is_followed_live_with_its_timeline_and_tasks(browser, shots: Shots):
    async with served(speed=8) as s, dashboard(browser, s.url) as page:
        pipeline = page.get_by_role("region", name="pipeline", exact=True)
        await pipeline.get_by_role("button", name="Run", exact=True).click()
        view = run_view(page, "pipeline")
        status = view.get_by_role("status")
        await expect(view.get_by_role("heading", level=2)).to_be_focused()
        await expect(status).to_have_text("Starting")
        await shots.take(page, "starting")
        await expect(status).to_have_text("Running")
        timeline = view.get_by_role("img", name=re.compile("^Task timeline"))
        bars = timeline.locator("g[data-task] rect")
        await expect(bars).to_have_count(1)  # ingest only: the others wait for it
        tasks = view.get_by_role("table", name="Tasks", exact=True)
        await expect(tasks.locator("tbody tr[data-task] td:nth-child(2)")).to_have_text(
            ["Running", "Not run yet", "Not run yet"]
        )
        await expect(timeline.locator(".not-run")).to_have_text(["⋯ Not run yet"] * 2)
        await shots.take(page, "running-first-task")
        await expect(bars).to_have_count(2)
        # A finished task's output, from its row.
        await tasks.get_by_role("button", name="Output of ingest").click()
        output = tasks.locator("tr.output-row pre")
        await expect(output).to_have_text('{"files": 12}')
        await expect(output).to_have_accessible_name("Output of ingest")
        await expect(view.get_by_role("button", name="Cancel")).to_be_visible()
        await expect(status).to_have_text("Succeeded", timeout=15_000)
        await expect(bars).to_have_count(3)
        await expect(view.get_by_role("button", name="Cancel")).to_be_hidden()
        await expect(view.get_by_role("button", name="Run again")).to_be_visible()
        await expect(view.get_by_role("button", name=re.compile("^Repair"))).to_be_hidden()
        seen = view.get_by_role("list", name="States seen").get_by_role("listitem")
        await expect(seen).to_have_text(["Starting", "Running", "Finishing", "Succeeded"])
        # The time axis: ticks from 0 s, in words.
        await expect(timeline.locator(".tick text").first).to_have_text("0 s")
        (run,) = s.runs_of(DEMO_JOB_IDS["pipeline"])
        await expect(pipeline.locator(".latest")).to_have_text("Latest run: Succeeded")
        matrix = pipeline.get_by_role("table", name="Last 1 runs of pipeline by task")
        await expect(matrix.locator("tbody th")).to_have_text(["ingest", "transform", "publish"])
        await expect(matrix.locator("tbody td.kind-succeeded")).to_have_count(3)
        await expect(pipeline.locator(".figures")).to_contain_text("Success rate100% (1 of 1)")
        await pipeline.get_by_text("Run history", exact=True).click()
        rows = pipeline.get_by_role("table", name="Run history of pipeline").get_by_role("row")
        await expect(rows.nth(1).get_by_role("cell")).to_have_text(
            [
                str(run.run_id),
                re.compile(r"\d"),
                re.compile(r"s$"),
                "Succeeded",
                "emulator@example.com",
            ]
        )
        await shots.take(page, "success")
        assert page.url.endswith(f"#run=pipeline/{run.run_id}")
        # The run's page "in Databricks" is the emulator's page of that run.
        async with page.expect_popup() as popup_info:
            await view.get_by_role("link", name="Open in Databricks").click()
        popup = await popup_info.value
        await expect(popup.get_by_role("heading", level=1)).to_have_text(
            f"daily-pipeline: run {run.run_id}"
        )
        await shots.take(popup, "run-page-in-the-emulator")


async def test_a_reload_mid_run_resumes_without_a_gap(browser, shots: Shots):
    async with served(speed=4) as s, dashboard(browser, s.url) as page:
        etl = page.get_by_role("region", name="etl", exact=True)
        await etl.get_by_label("run_date").fill("2026-11-29")
        await etl.get_by_role("button", name="Run", exact=True).click()
        status = run_view(page, "etl").get_by_role("status")
        await expect(status).to_have_text("Running")
        url = page.url
        await page.reload()
        await expect(status).to_have_text(re.compile("Running|Finishing"))
        await shots.take(page, "reloaded-mid-run")
        assert page.url == url
        await expect(status).to_have_text("Succeeded")
        # Replayed from the run's first event, then live: every state, in order, once.
        seen = page.get_by_role("list", name="States seen").get_by_role("listitem")
        await expect(seen).to_have_text(["Starting", "Running", "Finishing", "Succeeded"])
        await shots.take(page, "finished-after-reload")
        assert len(s.runs_of(DEMO_JOB_IDS["etl"])) == 1


async def test_a_run_started_elsewhere_shows_up_on_its_job(browser, shots: Shots):
    async with served(speed=1) as s, dashboard(browser, s.url) as page:
        etl = page.get_by_role("region", name="etl", exact=True)
        await expect(etl.locator(".latest")).to_have_text("Latest run: never run")
        async with httpx.AsyncClient(base_url=s.url) as api:
            started = await api.post(
                "/api/jobs/etl/run", json={"params": {"run_date": "2026-11-29"}}
            )
        assert started.status_code == 200
        # The page looks again every 5 s; no reload, no click.
        await expect(etl.locator(".latest")).to_have_text(
            re.compile("Latest run: (Starting|Running)"), timeout=8_000
        )
        matrix = etl.get_by_role("table", name="Last 1 runs of etl by task")
        await expect(matrix.locator("thead th.cell")).to_have_count(1)
        await shots.take(page, "started-elsewhere")
