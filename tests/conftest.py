"""Fixtures shared by test modules (settings, upstream, client, json_logs); the rest are
factories in factories.py."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import httpx
import pytest
import respx

from service.basics.logs import configure_logging
from service.settings.config import Settings
from tests.factories import make_client, make_settings, upstream_router
from tests.redis_server import RedisServer, redis_server_for

# The folders whose tests need more than this process (sockets, Redis, a browser, Docker): each
# test in one gets the folder's marker, so `-m "not e2e and ..."` (make test-fast) leaves it out.
BY_FOLDER = ("e2e", "scale", "browser", "container", "soak")
TESTS = Path(__file__).parent


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        folder = item.path.relative_to(TESTS).parts[0] if item.path.is_relative_to(TESTS) else ""
        if folder in BY_FOLDER:
            item.add_marker(folder)


@pytest.fixture
def settings() -> Settings:
    return make_settings()


@pytest.fixture
def upstream() -> respx.MockRouter:
    return upstream_router()


@pytest.fixture
async def client(
    settings: Settings, upstream: respx.MockRouter
) -> AsyncIterator[httpx.AsyncClient]:
    async with make_client(settings, upstream) as c:
        yield c


@pytest.hookimpl(wrapper=True)
def pytest_pyfunc_call(pyfuncitem: pytest.Function) -> object:
    """Keep looptime's hook away from plain tests.

    looptime 0.9 asks the event loop policy for the running loop around every test that has
    the (autouse) `event_loop_policy` fixture; around a sync test, Python 3.11 then creates a
    loop nobody closes, and filterwarnings=error fails whichever test runs next. A sync test
    never takes that fixture as an argument, so hiding it from the hook changes nothing else.
    """
    if pyfuncitem.get_closest_marker("asyncio") is None:  # pytest-asyncio marks async tests
        pyfuncitem.funcargs.pop("event_loop_policy", None)
    return (yield)


@pytest.fixture
def json_logs(capsys: pytest.CaptureFixture[str]) -> Iterator[pytest.CaptureFixture[str]]:
    """Our logs as JSON lines at debug level, read with `factories.log_lines(json_logs)`."""
    configure_logging("debug", json=True)
    yield capsys
    configure_logging("info", json=False)


@pytest.fixture
def redis_server(tmp_path: Path) -> Iterator[RedisServer]:
    """A redis-server of this test's own (skipped without the binary; CI fails instead)."""
    server = redis_server_for(tmp_path)
    try:
        yield server
    finally:
        server.stop()
