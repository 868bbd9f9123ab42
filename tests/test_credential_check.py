"""The start-up credential check: one jobs/list call beside start-up, a warning with the reason."""

from __future__ import annotations

import asyncio
import json

import httpx
import pytest

from service.basics.logs import configure_logging
from tests.factories import advance, m2m_settings, make_client, make_settings, upstream_router


@pytest.fixture
def json_logs(capsys):
    configure_logging("info", json=True)
    yield capsys
    configure_logging("info", json=False)


def logged(capsys, event):
    text = capsys.readouterr()
    found = [json.loads(line) for line in (text.err + text.out).splitlines() if line]
    return [line for line in found if line["event"] == event]


@pytest.mark.parametrize(
    ("answer", "reason"),
    [
        (
            httpx.Response(403, json={"error_code": "PERMISSION_DENIED", "message": "Invalid"}),
            "Databricks refused the credentials (HTTP 403): check DATABRICKS_TOKEN",
        ),
        (httpx.ConnectError("refused"), "Databricks is unreachable at DATABRICKS_HOST"),
        (httpx.ReadTimeout("slow"), "Databricks did not answer within 5 s"),
        (httpx.Response(404, text="<html>"), "DATABRICKS_HOST does not serve the Jobs API"),
        (httpx.Response(503), "Databricks answered HTTP 503"),
    ],
    ids=["refused", "unreachable", "timeout", "not-a-workspace", "5xx"],
)
async def test_a_failed_check_is_one_warning_with_the_reason(json_logs, answer, reason):
    router = upstream_router()
    route = router.get("/list", params={"limit": "1"}).mock(side_effect=[answer])
    async with make_client(make_settings(), router, check_credentials=True) as client:
        await advance(1)
        ready = await client.get("/readyz")
    (warning,) = logged(json_logs, "startup.credentials_unverified")
    assert warning["level"] == "warning"
    assert warning["reason"].startswith(reason)
    assert warning["host"] == "https://ws.test"
    assert route.call_count == 1  # once, never retried
    assert ready.status_code == 200  # a warning, not a crash


async def test_refused_service_principal_names_the_client_settings(json_logs):
    router = upstream_router()
    token = router.post("https://ws.test/oidc/v1/token").respond(401, json={"error": "nope"})
    async with make_client(m2m_settings(), router, check_credentials=True):
        await advance(1)
    (warning,) = logged(json_logs, "startup.credentials_unverified")
    assert warning["reason"] == (
        "Databricks refused the credentials (HTTP 401): "
        "check DATABRICKS_CLIENT_ID and DATABRICKS_CLIENT_SECRET"
    )
    assert token.called


async def test_accepted_credentials_are_one_info_line(json_logs):
    router = upstream_router()
    router.get("/list").respond(json={"jobs": [], "has_more": False})
    async with make_client(make_settings(), router, check_credentials=True):
        await advance(1)
    assert len(logged(json_logs, "startup.credentials_ok")) == 1


async def test_a_slow_check_does_not_hold_back_readiness(json_logs):
    router = upstream_router()

    async def hang(_request):
        await asyncio.sleep(60)
        return httpx.Response(200, json={})

    router.get("/list").mock(side_effect=hang)
    async with make_client(make_settings(), router, check_credentials=True) as client:
        loop = asyncio.get_running_loop()
        started = loop.time()
        ready = await client.get("/readyz")
        answered_after = loop.time() - started
        await advance(6)
    assert ready.status_code == 200
    assert answered_after < 0.1
    (warning,) = logged(json_logs, "startup.credentials_unverified")
    assert warning["reason"] == "Databricks did not answer within 5 s"


async def test_without_the_option_nothing_is_checked():
    router = upstream_router()
    route = router.get("/list")
    async with make_client(make_settings(), router) as client:
        await advance(1)
        await client.get("/readyz")
    assert not route.called
