"""The start-up check beside start-up: one jobs/list call for the credentials, then jobs/get for
each configured job id (a few at a time, within a bound); a warning with the reason for each."""

from __future__ import annotations

import asyncio
import json

import httpx
import pytest
import respx

from service.basics.logs import configure_logging
from service.credential_check import JOBS_AT_ONCE, JOBS_WITHIN_S
from tests.factories import (
    HOST,
    JOB_IDS,
    TOKEN,
    advance,
    m2m_settings,
    make_client,
    make_settings,
    upstream_router,
)


@pytest.fixture
def json_logs(capsys):
    configure_logging("info", json=True)
    yield capsys
    configure_logging("info", json=False)


def logged(capsys, event):
    """The log lines written so far of `event` (all of them for None)."""
    text = capsys.readouterr()
    found = [json.loads(line) for line in (text.err + text.out).splitlines() if line]
    return [line for line in found if event is None or line["event"] == event]


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
    router.get("/get").mock(side_effect=known_jobs(JOB_IDS.values()))
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


def known_jobs(ids, *, delay_s: float = 0.0, in_flight: list[int] | None = None):
    """jobs/get as Databricks answers it: the job for an id in `ids`, else "does not exist"."""
    known = set(ids)
    in_flight = [] if in_flight is None else in_flight

    async def get(request: httpx.Request) -> httpx.Response:
        in_flight.append(1)
        try:
            await asyncio.sleep(delay_s)
        finally:
            in_flight.pop()
        job_id = int(request.url.params["job_id"])
        if job_id in known:
            return httpx.Response(200, json={"job_id": job_id, "settings": {"name": "x"}})
        missing = {
            "error_code": "INVALID_PARAMETER_VALUE",
            "message": f"Job {job_id} does not exist.",
        }
        return httpx.Response(400, json=missing)

    return get


def many_jobs(count: int, **overrides):
    """Settings with jobs j0 ... j<count-1>, of ids 1000 ... 1000 + count - 1."""
    environ = {"DATABRICKS_HOST": HOST, "DATABRICKS_TOKEN": TOKEN, "HOST": "127.0.0.1"}
    environ |= {f"DATABRICKS_JOB_J{i}": str(1000 + i) for i in range(count)}
    return make_settings(environ=environ, **overrides)


def workspace(get) -> respx.MockRouter:
    router = upstream_router()
    router.get("/list").respond(json={"jobs": [], "has_more": False})
    router.get("/get").mock(side_effect=get)
    return router


async def test_a_job_id_databricks_does_not_know_is_a_warning_naming_key_and_id(json_logs):
    router = workspace(known_jobs([JOB_IDS["etl"], JOB_IDS["report"]]))
    async with make_client(make_settings(), router, check_credentials=True) as client:
        await advance(1)
        ready = await client.get("/readyz")
    (warning,) = logged(json_logs, "startup.job_unverified")
    assert (warning["level"], warning["job"], warning["job_id"]) == ("warning", "other", 103)
    assert warning["reason"] == (
        "Databricks has no job 103 (configured as other): check the job id in [jobs.other] or "
        "in DATABRICKS_JOB_OTHER"
    )
    assert ready.status_code == 200  # a warning, not a crash


async def test_every_job_known_is_one_info_line(json_logs):
    router = workspace(known_jobs(JOB_IDS.values()))
    async with make_client(make_settings(), router, check_credentials=True):
        await advance(1)
    (info,) = logged(json_logs, "startup.jobs_ok")
    assert info["jobs"] == 3
    assert router.routes[1].call_count == 3  # one jobs/get per job


async def test_jobs_are_checked_in_parallel_a_few_at_a_time(json_logs):
    in_flight: list[int] = []
    answered_at: list[float] = []
    most = 0
    answer = known_jobs(range(1000, 1020), delay_s=1.0, in_flight=in_flight)

    async def get(request: httpx.Request) -> httpx.Response:
        nonlocal most
        most = max(most, len(in_flight) + 1)
        response = await answer(request)
        answered_at.append(asyncio.get_running_loop().time())
        return response

    router = workspace(get)
    async with make_client(many_jobs(20), router, check_credentials=True):
        started = asyncio.get_running_loop().time()
        await advance(10)
    assert most == JOBS_AT_ONCE
    assert len(answered_at) == 20
    # Three rounds of 1 s (20 jobs, 8 at a time), not 20 s one by one.
    assert max(answered_at) - started == pytest.approx(3, abs=0.5)
    assert logged(json_logs, "startup.jobs_ok")[0]["jobs"] == 20


async def test_the_job_check_is_bounded_in_time_and_names_the_jobs_it_did_not_check(json_logs):
    router = workspace(known_jobs(range(1000, 1060), delay_s=60))  # every jobs/get hangs
    async with make_client(many_jobs(60), router, check_credentials=True) as client:
        await advance(JOBS_WITHIN_S + 1)
        ready = await client.get("/readyz")
    lines = logged(json_logs, None)
    warnings = [line for line in lines if line["event"] == "startup.job_unverified"]
    (unchecked,) = [line for line in lines if line["event"] == "startup.jobs_unchecked"]
    # 8 at a time, 5 s each: at most 6 rounds (48 jobs) within 30 s, each job a warning; the
    # rest named in one line, logged by then.
    assert len(warnings) % JOBS_AT_ONCE == 0
    assert len(warnings) <= 6 * JOBS_AT_ONCE
    assert warnings[0]["reason"].endswith(": Databricks did not answer within 5 s")
    assert len(unchecked["jobs"]) == 60 - len(warnings)
    assert ready.status_code == 200


async def test_a_job_the_service_principal_may_not_view_is_a_warning(json_logs):
    def get(request: httpx.Request) -> httpx.Response:
        return httpx.Response(403, json={"error_code": "PERMISSION_DENIED", "message": "no"})

    router = workspace(get)
    settings = make_settings(
        environ={
            "DATABRICKS_HOST": HOST,
            "DATABRICKS_TOKEN": TOKEN,
            "HOST": "127.0.0.1",
            "DATABRICKS_JOB_ETL": "101",
        }
    )
    async with make_client(settings, router, check_credentials=True):
        await advance(1)
    (warning,) = logged(json_logs, "startup.job_unverified")
    assert warning["reason"] == (
        "Databricks refused to show job 101 (configured as etl) (HTTP 403): the job may not "
        "exist, or the service principal may not view it (it needs CAN_VIEW or more)"
    )


async def test_refused_credentials_leave_the_jobs_unchecked(json_logs):
    router = upstream_router()
    router.get("/list").respond(403, json={"error_code": "PERMISSION_DENIED", "message": "x"})
    jobs_get = router.get("/get")
    async with make_client(make_settings(), router, check_credentials=True):
        await advance(6)
    assert len(logged(json_logs, "startup.credentials_unverified")) == 1
    assert not jobs_get.called  # one warning that says why, not one more per job
