"""The run view in headless chromium: a failure in words, its tasks, repair, run again, cancel."""

from __future__ import annotations

import re
from typing import Any

import httpx
import pytest
from playwright.async_api import Page, expect

from tests.browser.conftest import Shots, dashboard
from tests.browser.stack import Served, served
from tests.factories import DEMO_JOB_IDS

pytestmark = [pytest.mark.looptime(False), pytest.mark.asyncio(loop_scope="session")]
# What the page should call each task state the emulator reports (life cycle, result).
WORDS = {
    ("TERMINATED", "SUCCESS"): "Succeeded",
    ("TERMINATED", "FAILED"): "Failed",
    ("INTERNAL_ERROR", "FAILED"): "Failed",
    ("TERMINATED", "UPSTREAM_FAILED"): "Upstream failed",
    ("SKIPPED", "UPSTREAM_FAILED"): "Upstream failed",
    ("TERMINATED", "CANCELED"): "Canceled",
}


def run_view(page: Page, key: str):
    return page.get_by_role("region", name=re.compile(rf"^Run \d+ of {key}$"))


def task_rows(view):
    return view.get_by_role("table", name="Tasks", exact=True).locator("tbody tr[data-task]")


async def emulator_run(s: Served, run_id: int) -> dict[str, Any]:
    """The run as the emulated workspace answers runs/get: what Databricks would say."""
    async with httpx.AsyncClient(base_url=s.emulator_url) as emulator:
        reply = await emulator.get(
            "/api/2.1/jobs/runs/get",
            params={"run_id": run_id},
            headers={"Authorization": "Bearer dapi-local-dev"},
        )
    return reply.json()  # type: ignore[no-any-return]


async def test_the_flaky_job_fails_then_is_repaired_from_the_page_and_ends_succeeded(
    browser, shots: Shots
):
    async with served(speed=8) as s, dashboard(browser, s.url) as page:
        flaky = page.get_by_role("region", name="flaky", exact=True)
        await flaky.get_by_role("button", name="Run", exact=True).click()
        view = run_view(page, "flaky")
        status = view.get_by_role("status")
        await expect(status).to_have_text("Failed", timeout=15_000)
        # The raw state is there for who wants it: a tooltip on hover or focus, and read out.
        badge = status.locator(".state")
        await expect(badge).to_have_accessible_description("Databricks: INTERNAL_ERROR FAILED")
        await badge.focus()
        raw = await badge.evaluate("(e) => getComputedStyle(e, '::after').content")
        assert raw == '"INTERNAL_ERROR FAILED"'
        await shots.take(page, "raw-state-on-focus")
        await badge.blur()
        await expect(view.locator(".state-message")).to_contain_text("Task load failed")
        rows = task_rows(view)
        await expect(rows.locator(".state")).to_have_text(
            ["Succeeded", "Failed", "Upstream failed"]
        )
        # The failed task's error is open in its row; the others' outputs are a click away.
        error = view.get_by_role("table", name="Tasks", exact=True).locator("tr.output-row pre")
        await expect(error).to_have_accessible_name("Error of load")
        await expect(error).to_contain_text("ConnectionError: warehouse refused the connection")
        await expect(view.get_by_role("button", name="Cancel")).to_be_hidden()
        await shots.take(page, "failed", docs="dashboard-run-failed.png")
        (run,) = s.runs_of(DEMO_JOB_IDS["flaky"])
        await view.get_by_role("button", name="Repair failed tasks").click()
        await expect(status).to_have_text(re.compile("Starting|Running"))
        await expect(status).to_have_text("Succeeded", timeout=15_000)
        await expect(rows.locator(".state")).to_have_text(["Succeeded"] * 3)
        await expect(rows.locator("td:nth-last-child(2)")).to_have_text(["1", "2", "2"])  # attempt
        history = view.get_by_role("region", name="Repair history").get_by_role("listitem")
        await expect(history).to_have_count(2)
        await expect(history.first).to_contain_text("Original run: Failed")
        await expect(history.last).to_contain_text(re.compile(r"Repair \d+: Succeeded"))
        seen = view.get_by_role("list", name="States seen").get_by_role("listitem")
        await expect(seen.last).to_have_text("Succeeded")
        await expect(seen).to_contain_text(["Failed", "Starting", "Succeeded"])
        await shots.take(page, "repaired", docs="dashboard-run-repaired.png")
    assert [repair.id for repair in run.repairs] != []
    assert len(run.repairs) == 1
    assert page.url.endswith(f"#run=flaky/{run.run_id}")  # the same run, repaired


async def test_the_tasks_table_has_a_row_per_task_of_the_emulators_run_skipped_included(
    browser, shots: Shots
):
    async with served(speed=8) as s, dashboard(browser, s.url) as page:
        await (
            page.get_by_role("region", name="flaky", exact=True)
            .get_by_role("button", name="Run", exact=True)
            .click()
        )
        view = run_view(page, "flaky")
        await expect(view.get_by_role("status")).to_have_text("Failed", timeout=15_000)
        (run,) = s.runs_of(DEMO_JOB_IDS["flaky"])
        told = await emulator_run(s, run.run_id)
        expected = [
            (t["task_key"], WORDS[(t["state"]["life_cycle_state"], t["state"]["result_state"])])
            for t in told["tasks"]
        ]
        rows = task_rows(view)
        await expect(rows).to_have_count(len(told["tasks"]))
        await expect(rows.locator("th")).to_have_text([key for key, _ in expected])
        await expect(rows.locator(".state")).to_have_text([w for _, w in expected])
        assert ("notify", "Upstream failed") in expected  # the task that never ran has its row
        notify = rows.filter(has=page.get_by_role("rowheader", name="notify"))
        await expect(notify.get_by_role("cell")).to_have_text(
            ["", "Upstream failed", "—", "—", "—", "—"]
        )
        # Each finished task's output is reachable from its own row.
        await (
            rows.filter(has_text="extract").get_by_role("button", name="Output of extract").click()
        )
        output = view.locator("tr.output-row pre", has_text="rows")
        await expect(output).to_have_text('{"rows": 10}')
        await shots.take(page, "tasks")


async def test_a_ticked_task_is_repaired_with_the_tasks_depending_on_it(browser):
    async with served(speed=8) as s, dashboard(browser, s.url) as page:
        await (
            page.get_by_role("region", name="flaky", exact=True)
            .get_by_role("button", name="Run", exact=True)
            .click()
        )
        view = run_view(page, "flaky")
        await expect(view.get_by_role("status")).to_have_text("Failed", timeout=15_000)
        await view.get_by_role("checkbox", name="Repair load").check()
        await view.get_by_role("button", name="Repair ticked tasks (1)").click()
        await expect(view.get_by_role("status")).to_have_text("Succeeded", timeout=15_000)
        (run,) = s.runs_of(DEMO_JOB_IDS["flaky"])
        told = await emulator_run(s, run.run_id)
    attempts = {t["task_key"]: t.get("attempt_number", 0) for t in told["tasks"]}
    assert attempts == {"extract": 0, "load": 1, "notify": 1}


async def test_run_again_starts_a_new_run_with_the_same_parameters(browser, shots: Shots):
    async with served(speed=10) as s, dashboard(browser, s.url) as page:
        etl = page.get_by_role("region", name="etl", exact=True)
        await etl.get_by_label("run_date").fill("2026-11-29")
        await etl.get_by_role("combobox", name="env").select_option("prod")
        await etl.get_by_role("button", name="Run", exact=True).click()
        view = run_view(page, "etl")
        await expect(view.locator(".facts")).to_contain_text("Started byemulator@example.com")
        params = view.locator(".params li")
        await expect(params).to_contain_text(["env = prod", "run_date = 2026-11-29"])
        await expect(view.get_by_role("status")).to_have_text("Succeeded", timeout=15_000)
        (first,) = s.runs_of(DEMO_JOB_IDS["etl"])
        await view.get_by_role("button", name="Run again").click()
        await expect(page).to_have_url(re.compile(r"#run=etl/\d+$"))
        await expect(view.get_by_role("heading", level=2)).not_to_have_text(
            f"Run {first.run_id} of etl"
        )
        await expect(view.get_by_role("heading", level=2)).to_be_focused()
        await expect(view.get_by_role("status")).to_have_text("Succeeded", timeout=15_000)
        await shots.take(page, "ran-again")
        runs = s.runs_of(DEMO_JOB_IDS["etl"])
    assert len(runs) == 2
    assert runs[0].job_parameters == runs[1].job_parameters


async def test_a_cancel_dismissed_in_its_dialog_leaves_the_run_going(browser, shots: Shots):
    async with served(speed=1) as s, dashboard(browser, s.url) as page:
        etl = page.get_by_role("region", name="etl", exact=True)
        await etl.get_by_label("run_date").fill("2026-11-29")
        await etl.get_by_role("button", name="Run", exact=True).click()
        view = run_view(page, "etl")
        await expect(view.get_by_role("status")).to_have_text(re.compile("Starting|Running"))
        cancel = view.get_by_role("button", name="Cancel", exact=True)
        await cancel.click()
        dialog = page.get_by_role("dialog", name=re.compile(r"^Cancel run \d+ of etl\?$"))
        await expect(dialog).to_be_visible()
        await expect(dialog.get_by_role("button", name="Keep running")).to_be_focused()
        await shots.take(page, "asked", docs="dashboard-cancel-dialog.png")
        await dialog.get_by_role("button", name="Keep running").click()
        await expect(dialog).to_be_hidden()
        await expect(cancel).to_be_focused()  # back where it was
        await cancel.click()
        await page.keyboard.press("Escape")  # dismissed too
        await expect(dialog).to_be_hidden()
        (run,) = s.runs_of(DEMO_JOB_IDS["etl"])
        await expect(view.get_by_role("status")).to_have_text(re.compile("Starting|Running"))
        assert run.cancel_ms is None
        await shots.take(page, "still-running")
        await cancel.click()
        await dialog.get_by_role("button", name="Cancel run").click()
        await expect(view.get_by_role("status")).to_have_text("Canceled")
        await shots.take(page, "canceled")
    assert run.cancel_ms is not None


async def test_cancel_all_runs_on_a_job_card_is_confirmed_first(browser, shots: Shots):
    async with served(speed=1) as s, dashboard(browser, s.url) as page:
        async with httpx.AsyncClient(base_url=s.url) as api:
            for _ in range(2):
                await api.post("/api/jobs/etl/run", json={"params": {"run_date": "2026-11-29"}})
        etl = page.get_by_role("region", name="etl", exact=True)
        cancel_all = etl.get_by_role("button", name="Cancel all runs")
        await expect(cancel_all).to_be_visible(timeout=8_000)
        await expect(
            page.get_by_role("region", name="wheel", exact=True).get_by_role(
                "button", name="Cancel all runs"
            )
        ).to_be_hidden()
        await cancel_all.click()
        dialog = page.get_by_role("dialog", name="Cancel all runs of etl?")
        await expect(dialog).to_contain_text("(2 seen now)")
        await shots.take(page, "asked")
        await dialog.get_by_role("button", name="Keep them running").click()
        assert all(run.cancel_ms is None for run in s.runs_of(DEMO_JOB_IDS["etl"]))
        await cancel_all.click()
        await dialog.get_by_role("button", name="Cancel all runs").click()
        await expect(etl.locator(".latest")).to_have_text("Latest run: Canceled", timeout=8_000)
        await expect(cancel_all).to_be_hidden()
        await shots.take(page, "all-canceled")
    assert all(run.cancel_ms is not None for run in s.runs_of(DEMO_JOB_IDS["etl"]))


async def test_a_caller_who_may_not_run_a_job_sees_no_button_that_acts(browser):
    async with served(speed=8) as s:
        page = await browser.new_page()

        async def run_nothing(route):
            # The front door's catalog says canRun per job: no to everything here.
            response = await route.fetch()
            body = await response.json()
            for job in body["jobs"]:
                job["canRun"] = False
            await route.fulfill(response=response, json=body)

        await page.route("**/api/jobs?describe=true", run_nothing)
        async with httpx.AsyncClient(base_url=s.url, timeout=20) as api:
            await api.post("/api/jobs/flaky/run?stream=true", json={})
            await api.post("/api/jobs/etl/run", json={"params": {"run_date": "2026-11-29"}})
        (failed,) = s.runs_of(DEMO_JOB_IDS["flaky"])
        await page.goto(f"{s.url}/#run=flaky/{failed.run_id}")
        view = run_view(page, "flaky")
        await expect(view.get_by_role("status")).to_have_text("Failed")
        for name in ("Repair", "Run again", "Cancel"):
            await expect(view.get_by_role("button", name=re.compile(f"^{name}"))).to_have_count(0)
        await expect(view.get_by_role("checkbox")).to_have_count(0)
        report = page.get_by_role("region", name="report", exact=True)
        await expect(report).to_contain_text("You may view this job but not run it.")
        await expect(report.get_by_role("button", name="Run", exact=True)).to_have_count(0)
        etl = page.get_by_role("region", name="etl", exact=True)
        await expect(etl.locator(".latest")).to_have_text(re.compile("Starting|Running"))
        await expect(etl.get_by_role("button", name="Cancel all runs")).to_have_count(0)
