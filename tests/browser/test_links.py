"""A run's link to Databricks on the dashboard is an http(s) URL or nothing, in headless chromium.

The workspace is faked at the transport (respx) behind the service on real Hypercorn, so it can
send what a real one never should: a `run_page_url` of `javascript:alert(1)`. The service drops
such a link from what it relays; the page, given one anyway (rewritten on its way in), shows no
link either.
"""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

import pytest
import respx
from playwright.async_api import BrowserContext, Page, Route, expect

from service.app import create_app
from tests.browser.conftest import Shots
from tests.e2e.servers import running
from tests.factories import HOST, TOKEN, make_run, make_settings, transport, upstream_router

pytestmark = [pytest.mark.looptime(False), pytest.mark.asyncio(loop_scope="session")]
JAVASCRIPT = "javascript:alert(1)"
RUN_PAGE = f"{HOST}/?o=1#job/101/run/7"
TOML = '[jobs.etl]\njob_id = 101\ntask_type = "notebook"\n'


def workspace(run_page_url: str) -> respx.MockRouter:
    """One finished run of `etl` (7), whose page is `run_page_url`."""
    run = make_run(7, state="TERMINATED", result="SUCCESS", run_page_url=run_page_url)
    router = upstream_router()
    router.get("/get").respond(json={"job_id": 101, "settings": {"name": "etl"}})
    router.get("/runs/list").respond(json={"runs": [run]})
    router.get("/runs/get").respond(json=run)
    router.get("/runs/get-output").respond(json={"metadata": run, "logs": "done"})
    return router


@asynccontextmanager
async def service(tmp_path: Path, run_page_url: str) -> AsyncIterator[str]:
    environ = {"DATABRICKS_HOST": HOST, "DATABRICKS_TOKEN": TOKEN, "HOST": "127.0.0.1"}
    settings = make_settings(TOML, environ=environ, tmp_path=tmp_path)
    app = create_app(settings, upstream=transport(workspace(run_page_url)))
    async with running(app) as url:
        yield url


async def the_run(browser: BrowserContext, url: str) -> tuple[Page, list[str]]:
    """The dashboard showing run 7 to its end; the dialogs any script opened."""
    page = await browser.new_page()
    dialogs: list[str] = []
    page.on("dialog", lambda dialog: dialogs.append(dialog.message))
    await page.goto(f"{url}/#run=etl/7")
    await expect(page.get_by_role("status")).to_have_text("Succeeded")
    return page, dialogs


async def test_a_javascript_run_page_from_the_workspace_is_no_link(browser, tmp_path, shots: Shots):
    async with service(tmp_path, JAVASCRIPT) as url:
        page, dialogs = await the_run(browser, url)
        relayed = await page.request.get(f"{url}/api/jobs/etl/runs/7")
        await shots.take(page, "no-link")
        link = page.get_by_text("Open in Databricks")
        await expect(link).to_be_hidden()
        assert await link.get_attribute("href") is None
        await link.dispatch_event("click")  # as a click on it would
    assert relayed.ok
    assert JAVASCRIPT not in await relayed.text()
    assert dialogs == []


@pytest.mark.parametrize(
    ("sent", "shown"),
    [(JAVASCRIPT, None), ("data:text/html,<script>alert(1)</script>", None), (RUN_PAGE, RUN_PAGE)],
    ids=["javascript", "data", "https"],
)
async def test_the_page_links_only_an_http_run_page_whatever_reaches_it(
    browser, tmp_path, sent, shown
):
    async def rewritten(route: Route) -> None:
        # What the service relays, with the link the page is given instead.
        response = await route.fetch()
        body = (await response.text()).replace(RUN_PAGE, sent)
        await route.fulfill(response=response, body=body)

    async with service(tmp_path, RUN_PAGE) as url:
        await browser.route(re.compile(r".*/api/jobs/etl/runs/7/events.*"), rewritten)
        page, dialogs = await the_run(browser, url)
        link = page.get_by_text("Open in Databricks")
        if shown is None:
            await expect(link).to_be_hidden()
            await link.dispatch_event("click")
        else:
            await expect(link).to_be_visible()
        href = await link.get_attribute("href")
    assert href == shown
    assert dialogs == []
