"""Logs: JSON lines with request context; no token value in any line."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
import structlog

from service.logs import configure_logging
from tests.factories import (
    HOST,
    JOB_IDS,
    TOKEN,
    make_client,
    make_run,
    make_settings,
    timeline,
    upstream_router,
)


@pytest.fixture
def json_logs(capsys):
    configure_logging("debug", json=True)
    yield capsys
    configure_logging("info", json=False)


def lines(capsys):
    captured = capsys.readouterr()
    return [json.loads(line) for line in (captured.err + captured.out).splitlines() if line]


async def test_one_access_line_per_request_with_context(json_logs, upstream, settings):
    upstream.get("/runs/get").respond(json=make_run(5))
    async with make_client(settings, upstream) as client:
        await client.get("/api/jobs/etl/runs/5", headers={"x-request-id": "req-1"})
    (access,) = [line for line in lines(json_logs) if line["event"] == "http.request"]
    assert access["request_id"] == "req-1"
    assert access["method"] == "GET"
    assert access["route"] == "/api/jobs/{job_key}/runs/{run_id}"
    assert access["job_key"] == "etl"
    assert access["status"] == 200
    assert access["duration_ms"] >= 0


async def test_a_long_job_key_is_logged_as_at_most_200_characters(json_logs, upstream, settings):
    async with make_client(settings, upstream) as client:
        await client.get("/api/jobs/" + "k" * 10_000 + "/status")
    (access,) = [line for line in lines(json_logs) if line["event"] == "http.request"]
    assert access["status"] == 404
    assert len(access["job_key"]) == 200


async def test_upstream_calls_are_logged_at_debug_with_duration(json_logs, upstream, settings):
    upstream.get("/runs/get").respond(json=make_run(5))
    async with make_client(settings, upstream) as client:
        await client.get("/api/jobs/etl/runs/5", headers={"x-request-id": "req-2"})
    (call,) = [line for line in lines(json_logs) if line["event"] == "upstream.request"]
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
    upstream.get("/runs/get").respond(
        403, json={"error_code": "PERMISSION_DENIED", "message": "no access"}
    )
    async with make_client(settings, upstream) as client:
        await client.get(
            "/api/jobs/etl/runs/5", headers={"x-forwarded-access-token": "user-token-value"}
        )
    text = json.dumps(lines(json_logs))
    for secret in ("user-token-value", "client-secret-value", TOKEN):
        assert secret not in text
    assert JOB_IDS["etl"]  # the job id may appear; secrets may not


def test_lines_have_level_and_utc_timestamp_and_no_stale_request_id(json_logs):
    structlog.get_logger("t").warning("outside.request", where=Path("/srv/x"))
    (line,) = lines(json_logs)
    assert line["level"] == "warning"
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}Z", line["timestamp"])
    assert line["where"] == "/srv/x"  # what JSON cannot hold is logged as text, not a crash
    assert "request_id" not in line


def test_secret_named_keys_are_masked(json_logs):
    structlog.get_logger("t").info("oops", token="dapi-123", password="hunter2", job_key="etl")
    (line,) = lines(json_logs)
    assert (line["token"], line["password"], line["job_key"]) == ("***", "***", "etl")


async def test_poll_loops_do_not_carry_the_request_id_that_started_them(json_logs, tmp_path):
    router = upstream_router()
    router.get("/runs/get").mock(side_effect=timeline([(0, "PENDING"), (10, "TERMINATED")]))
    settings = make_settings(tmp_path=tmp_path, poll_interval_ms=5000)
    async with make_client(settings, router) as client:
        await client.get("/api/jobs/etl/runs/555/events", headers={"x-request-id": "req-4"})
    calls = [line for line in lines(json_logs) if line["event"] == "upstream.request"]
    assert len(calls) >= 2
    # The first read is the request's own (it scopes the run to the job); the polls are not.
    assert calls[0]["request_id"] == "req-4"
    assert all("request_id" not in call for call in calls[1:])
