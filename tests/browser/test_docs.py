"""`/docs` in headless chromium: Swagger UI works under its Content-Security-Policy, and no other
site can frame it (a framed "Execute" could be clickjacked)."""

from __future__ import annotations

import pytest
from playwright.async_api import BrowserContext, expect
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import HTMLResponse
from starlette.routing import Route

from tests.browser.conftest import Shots
from tests.browser.stack import served
from tests.e2e.servers import running

pytestmark = [pytest.mark.looptime(False), pytest.mark.asyncio(loop_scope="session")]
# Every CSP violation the page meets, as the browser reports it to the page itself.
WATCH_CSP = """
window.violations = [];
document.addEventListener("securitypolicyviolation", (e) =>
  window.violations.push(`${e.violatedDirective} ${e.blockedURI}`));
"""


async def csp_console(browser: BrowserContext) -> list[str]:
    """Console messages about the Content-Security-Policy, from every page of `browser`."""
    said: list[str] = []
    browser.on(
        "console",
        lambda message: (
            said.append(message.text) if "Content Security Policy" in message.text else None
        ),
    )
    await browser.add_init_script(WATCH_CSP)
    return said


async def test_swagger_ui_renders_and_executes_a_call_with_no_csp_violation(browser, shots: Shots):
    console = await csp_console(browser)
    async with served(speed=10) as s:
        page = await browser.new_page()
        response = await page.goto(f"{s.url}/docs")
        assert response is not None
        headers = await response.all_headers()
        await expect(page.get_by_role("heading", name="jobs-sidecar")).to_be_visible()
        livez = page.locator(".opblock-summary", has_text="/livez")
        await livez.click()
        await page.get_by_role("button", name="Try it out").click()
        await page.get_by_role("button", name="Execute").click()
        await expect(page.locator(".live-responses-table tbody .response-col_status")).to_have_text(
            "200"
        )
        await expect(page.locator(".live-responses-table .microlight").first).to_contain_text(
            '"status": "ok"'
        )
        await shots.take(page, "executed")
        violations = await page.evaluate("window.violations")
    assert "script-src 'self' 'sha256-" in headers["content-security-policy"]
    assert "frame-ancestors 'none'" in headers["content-security-policy"]
    assert (headers["x-frame-options"], headers["x-content-type-options"]) == ("DENY", "nosniff")
    assert violations == []
    assert console == []


def framing_site(target: str) -> Starlette:
    async def page(_request: Request) -> HTMLResponse:
        return HTMLResponse(f'<h1>Win a prize</h1><iframe src="{target}"></iframe>')

    return Starlette(routes=[Route("/", page)])


async def test_another_site_cannot_frame_the_docs(browser, shots: Shots):
    console = await csp_console(browser)
    async with served(speed=10) as s, running(framing_site(f"{s.url}/docs")) as elsewhere:
        page = await browser.new_page()
        await page.goto(elsewhere)
        await expect(page.get_by_role("heading", name="Win a prize")).to_be_visible()
        frame = page.frame_locator("iframe")
        await expect(page.locator("iframe")).to_be_attached()
        await shots.take(page, "framed")
        rendered = await frame.locator("#swagger-ui").count()
    assert rendered == 0
    assert any("frame-ancestors 'none'" in text for text in console), console
