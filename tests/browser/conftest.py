"""Fixtures of the browser tests: Debian's chromium under Playwright, and where screenshots go.

One chromium serves the session (its launch is most of a short test's time), so the browser
tests run on the session's event loop (`pytestmark` in each module); each test has a context of
its own.

Without chromium these tests skip with the reason, except in CI (CI=true), where they fail: CI
must run them. `.ci/browser-up --install` installs it; `make test` does when it can.

`DOCS_SCREENSHOTS=1` also writes the steps taken with `docs=` to docs/ (`make docs-screenshots`).
"""

from __future__ import annotations

import os
import re
import shutil
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

import pytest
import pytest_asyncio
from playwright.async_api import Browser, BrowserContext, Page, async_playwright

ROOT = Path(__file__).resolve().parents[2]
ARTIFACTS = ROOT / "test-artifacts" / "browser"
DOCS = ROOT / "docs"
# Debian's chromium as it is; nothing is downloaded, nothing phones home.
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


def chromium_path() -> str:
    """The chromium to drive ($CHROMIUM, else `chromium` on PATH), or skip (fail in CI)."""
    found = shutil.which(os.environ.get("CHROMIUM", "chromium"))
    if found is None:
        reason = "no chromium found (bash .ci/browser-up --install, or set CHROMIUM)"
        if os.environ.get("CI", "").lower() in ("true", "1"):
            pytest.fail(f"CI must run the browser tests, but {reason}", pytrace=False)
        pytest.skip(reason)
    return found


@pytest_asyncio.fixture(scope="session", loop_scope="session")
async def chromium() -> AsyncIterator[Browser]:
    """One chromium for the session (Playwright gives it a fresh temporary profile)."""
    executable = chromium_path()
    async with async_playwright() as playwright:
        launched = await playwright.chromium.launch(
            executable_path=executable, headless=True, args=CHROMIUM_ARGS
        )
        try:
            yield launched
        finally:
            await launched.close()


@pytest_asyncio.fixture(loop_scope="session")
async def browser(chromium: Browser) -> AsyncIterator[BrowserContext]:
    """A fresh context per test: no cookies, storage or cache from another test."""
    context = await chromium.new_context(viewport={"width": 1280, "height": 900})
    context.set_default_timeout(10_000)
    try:
        yield context
    finally:
        await context.close()


class Shots:
    """Numbered screenshots of one test's steps, under test-artifacts/browser/<test>/."""

    def __init__(self, name: str) -> None:
        self.dir = ARTIFACTS / re.sub(r"[^A-Za-z0-9_.-]+", "_", name)
        shutil.rmtree(self.dir, ignore_errors=True)
        self.dir.mkdir(parents=True)
        self.count = 0

    async def take(self, page: object, step: str, *, docs: str | None = None) -> Path:
        """The whole page; with `docs` (a file name) and DOCS_SCREENSHOTS=1, the part in view
        is docs/<docs> too."""
        self.count += 1
        path = self.dir / f"{self.count:02d}-{step}.png"
        await page.screenshot(path=str(path), full_page=True)  # type: ignore[attr-defined]
        if docs is not None and os.environ.get("DOCS_SCREENSHOTS") == "1":
            await page.screenshot(path=str(DOCS / docs))  # type: ignore[attr-defined]
        return path


# Every CSP violation the page meets, as the browser reports it to the page itself.
WATCH_CSP = """
window.violations = [];
document.addEventListener("securitypolicyviolation", (e) =>
  window.violations.push(`${e.violatedDirective} ${e.blockedURI}`));
"""


@asynccontextmanager
async def dashboard(
    browser: BrowserContext, url: str, *, path: str = "/", ready: str | None = "etl"
) -> AsyncIterator[Page]:
    """The dashboard at `url` + `path`, loaded (the job card `ready` there, maybe hidden);
    fails the test if a script on it throws or the page breaks its Content-Security-Policy."""
    page = await browser.new_page()
    await page.add_init_script(WATCH_CSP)
    errors: list[str] = []
    page.on("pageerror", lambda error: errors.append(str(error)))
    await page.goto(url + path)
    if ready is not None:
        await page.locator(f'section.job[data-job="{ready}"]').wait_for(state="attached")
    yield page
    assert errors == []
    assert await page.evaluate("window.violations") == []


_SHOTS_TAKEN = pytest.StashKey[bool]()


@pytest.fixture
def shots(request: pytest.FixtureRequest) -> Shots:
    request.config.stash[_SHOTS_TAKEN] = True
    return Shots(request.node.name)


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    if terminalreporter.config.stash.get(_SHOTS_TAKEN, False):
        terminalreporter.write_sep("-", "browser screenshots")
        terminalreporter.write_line(f"each step of the browser tests: {ARTIFACTS}/<test>/")
