"""The dashboard in token mode, in headless chromium: it asks for an API key, keeps it in this tab
only, and streams runs with fetch and the key's header, resuming by Last-Event-ID."""

from __future__ import annotations

import re
from collections.abc import Callable

import pytest
from playwright.async_api import Request, expect

from tests.browser.conftest import Shots, dashboard
from tests.browser.stack import API_KEY, served

pytestmark = [pytest.mark.looptime(False), pytest.mark.asyncio(loop_scope="session")]


def kept(requests: list[Request]) -> Callable[[Request], None]:
    """A handler that keeps each request (Playwright takes no bound builtin method)."""

    def keep(request: Request) -> None:
        requests.append(request)

    return keep


async def test_the_page_asks_for_a_key_and_streams_a_run_to_its_end_with_it(browser, shots: Shots):
    requests: list[Request] = []
    said: list[str] = []
    browser.on("request", kept(requests))
    browser.on("console", lambda message: said.append(message.text))
    async with served(speed=8, token=True) as s, dashboard(browser, s.url, ready=None) as page:
        form = page.get_by_role("form", name="Sign in with an API key")
        key = form.get_by_role("textbox", name="API key")
        await expect(key).to_be_focused()
        await expect(key).to_have_attribute("type", "password")
        await shots.take(page, "asked")
        await key.fill("not-the-key")
        await form.get_by_role("button", name="Use this key").click()
        await expect(form.get_by_role("alert")).to_have_text(
            "This key was refused: check it and try again."
        )
        await key.fill(API_KEY)
        await form.get_by_role("button", name="Use this key").click()
        pipeline = page.get_by_role("region", name="pipeline", exact=True)
        await expect(pipeline.locator(".job-name")).to_have_text("daily-pipeline")
        await pipeline.get_by_role("button", name="Run", exact=True).click()
        view = page.get_by_role("region", name=re.compile(r"^Run \d+ of pipeline$"))
        await expect(view.get_by_role("status")).to_have_text("Succeeded", timeout=15_000)
        # Streamed, not read at the end: every state, in order.
        seen = view.get_by_role("list", name="States seen").get_by_role("listitem")
        await expect(seen).to_have_text(["Starting", "Running", "Finishing", "Succeeded"])
        await shots.take(page, "streamed-to-the-end")
        stored = await page.evaluate(
            "({ session: sessionStorage.getItem('jobs-sidecar:api-key'),"
            " local: localStorage.length })"
        )
        # Kept again after a reload, without asking.
        await page.reload()
        await expect(view.get_by_role("status")).to_have_text("Succeeded")
        await expect(form).to_have_count(0)
        await page.get_by_role("button", name="Forget the API key").click()
        await expect(form).to_be_visible()
        forgotten = await page.evaluate("sessionStorage.getItem('jobs-sidecar:api-key')")
    events = [r for r in requests if r.url.endswith("/events")]
    assert events
    for request in events:
        assert await request.header_value("authorization") == f"Bearer {API_KEY}"
    assert stored == {"session": API_KEY, "local": 0}
    assert forgotten is None
    assert not any(API_KEY in r.url for r in requests)
    assert not any(API_KEY in text for text in said)


async def test_a_reload_mid_run_resumes_the_stream_after_the_last_event_id(browser, shots: Shots):
    requests: list[Request] = []
    browser.on("request", kept(requests))
    async with served(speed=4, token=True) as s, dashboard(browser, s.url, ready=None) as page:
        await page.get_by_role("textbox", name="API key").fill(API_KEY)
        await page.get_by_role("button", name="Use this key").click()
        etl = page.get_by_role("region", name="etl", exact=True)
        await etl.get_by_label("run_date").fill("2026-11-29")
        await etl.get_by_role("button", name="Run", exact=True).click()
        status = page.get_by_role("status").filter(has=page.locator(".state"))
        await expect(status).to_have_text("Running")
        before = len(requests)
        await page.reload()
        await expect(status).to_have_text("Succeeded", timeout=15_000)
        seen = page.get_by_role("list", name="States seen").get_by_role("listitem")
        await expect(seen).to_have_text(["Starting", "Running", "Finishing", "Succeeded"])
        await shots.take(page, "resumed")
    (resumed, *_) = [r for r in requests[before:] if r.url.endswith("/events")]
    headers = await resumed.all_headers()
    assert headers["last-event-id"]
    assert headers["authorization"] == f"Bearer {API_KEY}"
    assert "lastEventId" not in resumed.url
