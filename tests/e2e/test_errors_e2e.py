"""Every error answer is our JSON error, over real sockets: refused CORS preflights included.

The demo stack (open mode on loopback) with one page origin allowed for CORS.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import httpx
import msgspec
import pytest

from service.app import create_app
from service.emulator import ScaledClock, Scenario, create_emulator_app
from tests.e2e.servers import fast_settings, running

pytestmark = pytest.mark.looptime(False)
APP = "https://app.example.com"
MAX_BODY = 4096


@asynccontextmanager
async def service() -> AsyncIterator[httpx.AsyncClient]:
    """The demo stack, pages of APP allowed for CORS, bodies up to MAX_BODY bytes."""
    async with running(create_emulator_app(Scenario.demo(), clock=ScaledClock())) as emulator:
        settings = fast_settings(emulator, max_body_bytes=MAX_BODY)
        access = msgspec.structs.replace(settings.access, cors_origins=(APP,))
        settings = msgspec.structs.replace(settings, access=access, allowed_origins=(APP,))
        async with (
            running(create_app(settings)) as url,
            httpx.AsyncClient(base_url=url, timeout=10) as api,
        ):
            yield api


def preflight(origin: str, method: str = "POST", headers: str = "content-type") -> dict[str, str]:
    return {
        "origin": origin,
        "access-control-request-method": method,
        "access-control-request-headers": headers,
    }


ERRORS = {
    "preflight, a method not allowed": (
        "OPTIONS",
        "/api/jobs/etl/run",
        {"headers": preflight(APP, "PUT")},
        400,
    ),
    "preflight, a header not allowed": (
        "OPTIONS",
        "/api/jobs/etl/run",
        {"headers": preflight(APP, headers="content-type,x-evil")},
        400,
    ),
    "preflight, another origin": (
        "OPTIONS",
        "/api/jobs/etl/run",
        {"headers": preflight("https://evil.example")},
        403,
    ),
    "OPTIONS without an origin": ("OPTIONS", "/api/jobs/etl/run", {}, 405),
    "no such route": ("GET", "/nope", {}, 404),
    "no such API document file": ("GET", "/docs/assets/nope.js", {}, 404),
    "a method not allowed": ("PUT", "/api/jobs/etl/run", {}, 405),
    "a malformed body": ("POST", "/api/jobs/etl/run", {"content": b"{"}, 400),
    "an unknown job": ("POST", "/api/jobs/nosuch/run", {"json": {}}, 404),
    "a malformed run id": ("DELETE", "/api/jobs/etl/runs/abc", {}, 400),
    "a cross-site write": (
        "POST",
        "/api/jobs/etl/run",
        {"json": {}, "headers": {"sec-fetch-site": "cross-site"}},
        403,
    ),
    "a body too large": ("POST", "/api/jobs/etl/run", {"content": b" " * (MAX_BODY + 1)}, 413),
}


@pytest.mark.parametrize(("method", "path", "kwargs", "status"), ERRORS.values(), ids=ERRORS)
async def test_every_error_answer_is_our_json_error(method, path, kwargs, status):
    async with service() as api:
        response = await api.request(method, path, **kwargs)
    assert response.status_code == status
    assert response.headers["content-type"] == "application/json"
    body = response.json()
    assert set(body) == {"error", "code", "plugin"}
    assert body["plugin"] == "jobs"
