"""Logs: JSON lines with request context; no token value in any line.

The Python API in a host program never configures logging and never writes to stdout: each such
case runs a small host program in a process of its own (structlog's configuration is
process-wide), with the emulator app as the upstream transport.
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
import textwrap
from pathlib import Path

import httpx
import pytest
import structlog

from tests.factories import (
    HOST,
    JOB_IDS,
    TOKEN,
    advance,
    log_lines,
    make_client,
    make_run,
    make_settings,
    scim_me,
    timeline,
    upstream_router,
)


async def test_upstream_calls_are_logged_at_debug_with_duration(json_logs, upstream, settings):
    upstream.get("/runs/get").respond(json=make_run(5))
    async with make_client(settings, upstream) as client:
        await client.get("/api/jobs/etl/runs/5", headers={"x-request-id": "req-2"})
    (call,) = [line for line in log_lines(json_logs) if line["event"] == "upstream.request"]
    assert call["request_id"] == "req-2"  # lines logged while serving carry the request's id
    assert call["level"] == "debug"
    assert call["verb"] == "runs/get"
    assert "duration_ms" in call


async def test_no_token_reaches_the_log(json_logs, upstream, tmp_path):
    settings = make_settings(
        '[jobs.etl]\njob_id = 101\nrun_as = "user"\n',
        tmp_path=tmp_path,
        environ={
            "DATABRICKS_HOST": HOST,
            "DATABRICKS_CLIENT_ID": "cid",
            "DATABRICKS_CLIENT_SECRET": "client-secret-value",
        },
    )
    scim_me(upstream, {"user-token-value": "u@x.com"})
    upstream.get("/runs/get").respond(
        403, json={"error_code": "PERMISSION_DENIED", "message": "no access"}
    )
    async with make_client(settings, upstream) as client:
        await client.get(
            "/api/jobs/etl/runs/5", headers={"x-forwarded-access-token": "user-token-value"}
        )
    text = json.dumps(log_lines(json_logs))
    for secret in ("user-token-value", "client-secret-value", TOKEN):
        assert secret not in text
    assert JOB_IDS["etl"]  # the job id may appear; secrets may not


def test_lines_have_level_and_utc_timestamp_and_no_stale_request_id(json_logs):
    structlog.get_logger("t").warning("outside.request", where=Path("/srv/x"))
    (line,) = log_lines(json_logs)
    assert line["level"] == "warning"
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}Z", line["timestamp"])
    assert line["where"] == "/srv/x"  # what JSON cannot hold is logged as text, not a crash
    assert "request_id" not in line


def test_secret_named_keys_are_masked(json_logs):
    structlog.get_logger("t").info("oops", token="dapi-123", password="hunter2", job_key="etl")
    (line,) = log_lines(json_logs)
    assert (line["token"], line["password"], line["job_key"]) == ("***", "***", "etl")


async def test_poll_loops_do_not_carry_the_request_id_that_started_them(json_logs, tmp_path):
    router = upstream_router()
    router.get("/runs/get").mock(side_effect=timeline([(0, "PENDING"), (10, "TERMINATED")]))
    settings = make_settings(tmp_path=tmp_path, poll_interval_ms=5000)
    async with make_client(settings, router) as client:
        await client.get("/api/jobs/etl/runs/555/events", headers={"x-request-id": "req-4"})
    calls = [line for line in log_lines(json_logs) if line["event"] == "upstream.request"]
    assert len(calls) >= 2
    # The first read is the request's own (it scopes the run to the job); the polls are not.
    assert calls[0]["request_id"] == "req-4"
    assert all("request_id" not in call for call in calls[1:])


UPSTREAM_SECRET = "dapi0123456789abcdef0123456789abcdef"
JWT = "eyJhbGciOiJSUzI1NiJ9.eyJzdWIiOiJzcCJ9.c2lnbmF0dXJl"


async def test_an_upstream_message_holding_a_token_is_masked(json_logs, upstream, settings):
    message = f"Invalid token {UPSTREAM_SECRET}; header was Authorization: Bearer {JWT}"
    upstream.get("/runs/get").respond(
        403, json={"error_code": "PERMISSION_DENIED", "message": message}
    )
    async with make_client(settings, upstream) as client:
        await client.get("/api/jobs/etl/runs/5")
    logged = log_lines(json_logs)
    (failed,) = [line for line in logged if line["event"] == "upstream.request_failed"]
    assert failed["upstream_message"] == "Invalid token ***; header was Authorization: Bearer ***"
    text = json.dumps(logged)
    assert UPSTREAM_SECRET not in text
    assert JWT.split(".")[1] not in text


async def test_upstream_messages_are_truncated(json_logs, upstream, settings):
    upstream.get("/runs/get").respond(500, json={"error_code": "INTERNAL", "message": "x" * 5000})
    async with make_client(settings, upstream) as client:
        await client.get("/api/jobs/etl/runs/5")
    failed = [line for line in log_lines(json_logs) if line["event"] == "upstream.request_failed"]
    assert failed
    assert all(len(line["upstream_message"]) <= 201 for line in failed)


@pytest.mark.parametrize(
    "value",
    [
        f"token={UPSTREAM_SECRET}",
        f"bearer {UPSTREAM_SECRET[4:]}",
        f"saw {JWT} in a header",
        "client secret dose0123456789abcdef0123 leaked",
    ],
)
def test_token_like_values_are_masked_in_any_line(json_logs, value):
    structlog.get_logger("t").warning("odd.reply", note=value, job_key="etl")
    (line,) = log_lines(json_logs)
    assert "***" in line["note"]
    assert value not in line["note"]
    assert line["job_key"] == "etl"


async def test_a_missing_run_upstream_is_not_a_warning(json_logs, upstream, settings):
    upstream.get("/runs/get").respond(
        404, json={"error_code": "RESOURCE_DOES_NOT_EXIST", "message": "Run 5 does not exist."}
    )
    async with make_client(settings, upstream) as client:
        response = await client.get("/api/jobs/etl/runs/5")
    logged = log_lines(json_logs)
    assert response.status_code == 404
    (failed,) = [line for line in logged if line["event"] == "upstream.request_failed"]
    assert failed["level"] == "info"
    assert [line for line in logged if line["level"] in ("warning", "error")] == []


async def test_a_retry_line_says_the_attempt_the_wait_and_why(json_logs, upstream, settings):
    upstream.get("/runs/get").mock(
        side_effect=[httpx.Response(503, json={}), httpx.Response(200, json=make_run(5))]
    )
    async with make_client(settings, upstream) as client:
        await client.get("/api/jobs/etl/runs/5")
    logged = log_lines(json_logs)
    (retry,) = [line for line in logged if "retry" in line["event"]]
    assert retry["event"] == "upstream.retry_scheduled"
    assert (retry["verb"], retry["tier"], retry["failed_attempt"], retry["attempts"]) == (
        "runs/get",
        "read",
        1,
        3,
    )
    assert (retry["reason"], retry["upstream_status"]) == ("UPSTREAM_UNAVAILABLE", 503)
    assert 1 <= retry["wait_s"] <= 1.5
    assert "<context block>" not in json.dumps(logged)


async def test_an_attempt_cut_at_its_deadline_says_so(json_logs, upstream, settings):
    async def trickle():
        for byte in b'{"job_id": 101}':
            await advance(1)  # loop time: the test takes none of it
            yield bytes([byte])

    upstream.get("/get").mock(
        side_effect=[
            httpx.Response(200, content=trickle()),
            httpx.Response(200, json={"job_id": 101}),
        ]
    )
    async with make_client(settings, upstream) as client:
        await client.get("/api/jobs/etl")
    (cut,) = [line for line in log_lines(json_logs) if line["event"] == "upstream.attempt_deadline"]
    assert (cut["verb"], cut["after_s"], cut["level"]) == ("get", 10.0, "warning")


ROOT = Path(__file__).resolve().parents[2]


HOST_PROGRAM = """
import asyncio, logging, httpx
{setup}
from service import Jobs, load_settings
from service.emulator import ManualClock, Scenario, create_emulator_app

async def main():
    upstream = httpx.ASGITransport(create_emulator_app(Scenario.demo(), clock=ManualClock()))
    {wrap}
    environ = {{"DATABRICKS_HOST": "http://emulator.test", "DATABRICKS_TOKEN": "dapi-local-dev",
               "DATABRICKS_JOB_ETL": "1001"}}
    async with Jobs.open(load_settings(environ), transport=upstream) as jobs:
        result = await jobs("etl").get_job()
    print("job", result.data["job_id"])

asyncio.run(main())
"""


# The first call answers 503, so the retry policy schedules (and logs) a retry.
FLAKY = """
import httpx
class Flaky(httpx.AsyncBaseTransport):
    def __init__(self, inner):
        self.inner, self.calls = inner, 0
    async def handle_async_request(self, request):
        self.calls += 1
        if self.calls == 1:
            return httpx.Response(503, json={"error_code": "TEMPORARILY_UNAVAILABLE"})
        return await self.inner.handle_async_request(request)
"""


def host(setup: str = "", *, flaky: bool = False) -> subprocess.CompletedProcess[str]:
    wrap = "upstream = Flaky(upstream)" if flaky else ""
    program = textwrap.dedent(HOST_PROGRAM).format(setup=setup, wrap=wrap)
    if flaky:
        program = FLAKY + program
    return subprocess.run(  # noqa: S603 - our own interpreter, our own program text
        [sys.executable, "-c", program],
        check=False,
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
    )


def test_a_host_that_configures_nothing_sees_only_its_own_output():
    done = host()
    assert done.returncode == 0, done.stderr
    assert done.stdout == "job 1001\n"  # no "[debug] upstream.request" line
    assert done.stderr == ""


def test_a_host_that_configures_stdlib_logging_gets_our_lines_there():
    done = host("logging.basicConfig(level=logging.DEBUG, format='%(name)s %(message)s')")
    assert done.returncode == 0, done.stderr
    assert done.stdout == "job 1001\n"
    assert "service.upstream event=upstream.request" in done.stderr
    assert "verb=get" in done.stderr


def test_a_retried_call_writes_nothing_to_a_host_that_configures_nothing():
    done = host(flaky=True)
    assert done.returncode == 0, done.stderr
    assert done.stdout == "job 1001\n"  # no retry line, no request line
    # The failed attempt is a warning, which the stdlib's last resort writes to stderr; stamina's
    # own retry line ("<context block>") is not written anywhere.
    assert "stamina" not in done.stderr
    assert "event=upstream.request_failed" in done.stderr
