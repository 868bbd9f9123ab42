"""Without chromium the browser tests skip on a developer's machine and fail in CI."""

from __future__ import annotations

import pytest

from tests.browser.conftest import chromium_path


def test_no_chromium_skips_a_developers_run(monkeypatch):
    monkeypatch.setenv("CHROMIUM", "/nonexistent/chromium")
    monkeypatch.delenv("CI", raising=False)
    with pytest.raises(pytest.skip.Exception, match=r"\.ci/browser-up --install"):
        chromium_path()


def test_no_chromium_fails_ci(monkeypatch):
    monkeypatch.setenv("CHROMIUM", "/nonexistent/chromium")
    monkeypatch.setenv("CI", "true")
    with pytest.raises(pytest.fail.Exception, match="CI must run the browser tests"):
        chromium_path()
