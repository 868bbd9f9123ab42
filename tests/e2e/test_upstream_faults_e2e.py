"""Replies that are not what they claim, over real sockets: the emulator's body faults, a poll
throttled for an hour, a Retry-After date, and what the log says of upstream failures."""

from __future__ import annotations

import asyncio
import json

import httpx
import pytest
from starlette.applications import Starlette
from starlette.responses import JSONResponse
from starlette.routing import Route

from service.app import create_app
from service.basics.logs import configure_logging
from tests.e2e.servers import etl_settings, fault, running, stack, stats
from tests.factories import DATE, StoppedWallClock

pytestmark = pytest.mark.looptime(False)
RUN_DATE = {"params": {"run_date": "2026-11-29"}}


async def test_an_html_reply_is_502_and_the_next_good_one_is_not_hidden_by_a_cache():
    async with stack() as s:
        await fault(s, endpoint="jobs/get", garble="html", count=3)
        bad = await s.api.get("/api/jobs/etl")
        good = await s.api.get("/api/jobs/etl")
        calls = (await stats(s))["calls"]["jobs/get"]
    assert (bad.status_code, bad.json()["code"]) == (502, "UPSTREAM_INVALID")
    assert "Sign in" not in bad.text
    assert (good.status_code, good.json()["job_id"]) == (200, 1001)
    assert calls == 4  # three garbled attempts, then a fresh read: nothing was cached


async def test_a_garbled_output_is_retried_not_a_500():
    async with stack() as s:
        run_id = (await s.api.post("/api/jobs/etl/run", json=RUN_DATE)).json()["runId"]
        await s.api.get(f"/api/jobs/etl/runs/{run_id}/events")  # until it ends
        await fault(s, endpoint="runs/get-output", garble="not_json")
        output = await s.api.get(f"/api/jobs/etl/runs/{run_id}/output")
        calls = (await stats(s))["calls"]["runs/get-output"]
    assert output.status_code == 200
    assert output.json()["notebook_output"]["result"] == '{"rows_written": 120443}'
    assert calls == 2


async def test_a_huge_reply_is_cut_at_the_cap_and_not_retried():
    async with stack(max_upstream_bytes=256 * 1024) as s:
        await fault(s, endpoint="runs/list", huge_body_bytes=64 * 1024 * 1024)
        response = await s.api.get("/api/jobs/etl/status")
        calls = (await stats(s))["calls"]["runs/list"]
        after = await s.api.get("/api/jobs/etl/status")
    assert (response.status_code, response.json()["code"]) == (502, "UPSTREAM_TOO_LARGE")
    assert calls == 1
    assert after.status_code == 200


async def test_a_trickling_body_ends_its_attempt_and_the_retry_answers():
    async with stack(timeout_ms=300) as s:
        run_id = (await s.api.post("/api/jobs/etl/run", json=RUN_DATE)).json()["runId"]
        # About 1.5 KB at a byte every 20 ms: half a minute, far past the attempt's 0.3 s.
        await fault(s, endpoint="runs/get", slow_body_ms=20)
        started = asyncio.get_running_loop().time()
        response = await s.api.get(f"/api/jobs/etl/runs/{run_id}")
        elapsed = asyncio.get_running_loop().time() - started
        calls = (await stats(s))["calls"]["runs/get"]
    assert response.status_code == 200
    assert response.json()["run_id"] == run_id
    assert calls == 2
    assert elapsed < 3  # 0.3 s, a backoff of about a second, and the retry


async def test_a_poll_throttled_for_an_hour_keeps_its_streams_alive_and_joiners_informed():
    async with stack(poll_retry_after_max_ms=2000, heartbeat_ms=200) as s:
        await fault(s, endpoint="runs/get", status=429, retry_after=3600)
        loop = asyncio.get_running_loop()
        async with (
            asyncio.timeout(15),
            s.api.stream("POST", "/api/jobs/etl/run?stream=true", json=RUN_DATE) as triggered,
        ):
            lines = triggered.aiter_lines()
            run_id = json.loads(await _data(lines))["runId"]
            while (await stats(s))["calls"].get("runs/get", 0) < 1:
                await asyncio.sleep(0.01)  # the trigger's first poll: throttled for an hour
            asked = loop.time()
            async with s.api.stream("GET", f"/api/jobs/etl/runs/{run_id}/events") as joiner:
                first = json.loads(await _data(joiner.aiter_lines()))
                answered = loop.time() - asked
            rest = [line async for line in lines]
    assert first["run"]["run_id"] == run_id
    assert answered < 1  # at once, from a read, not after the throttled poll's wait
    assert rest.count(": heartbeat") >= 3  # the stream stayed alive while the poll waited
    last = json.loads([line for line in rest if line.startswith("data: ")][-1][len("data: ") :])
    assert last["status"] == "TERMINATED"


async def _data(lines):
    async for line in lines:
        if line.startswith("data: "):
            return line[len("data: ") :]
    raise AssertionError("the stream ended without data")


@pytest.fixture
def json_logs(capsys):
    configure_logging("debug", json=True)
    yield capsys
    configure_logging("info", json=False)


def logged(capsys):
    captured = capsys.readouterr()
    out = (captured.err + captured.out).splitlines()
    return [json.loads(line) for line in out if line.startswith("{")]


async def test_what_the_log_says_of_upstream_failures(json_logs):
    secret = "dapi0123456789abcdef0123456789abcdef"
    async with stack() as s:
        await fault(s, endpoint="jobs/get", status=503, message=f"token {secret} rejected")
        assert (await s.api.get("/api/jobs/etl")).status_code == 200
        assert (await s.api.get("/api/jobs/etl/runs/999999")).status_code == 404
    lines = logged(json_logs)
    text = json.dumps(lines)
    assert secret not in text
    assert "<context block>" not in text
    (retry,) = [line for line in lines if line["event"] == "upstream.retry_scheduled"]
    assert (retry["verb"], retry["failed_attempt"], retry["reason"]) == (
        "get",
        1,
        "UPSTREAM_UNAVAILABLE",
    )
    failed = {line["status"]: line for line in lines if line["event"] == "upstream.request_failed"}
    assert failed[503]["upstream_message"] == "token *** rejected"
    missing = [line for line in failed.values() if line["status"] != 503]
    assert [line["level"] for line in missing] == ["info"]


async def test_a_throttled_upstream_s_date_reaches_the_client_as_seconds_left():
    seen: list[str] = []

    async def throttled(request):  # a workspace proxy that answers with an HTTP date
        seen.append(request.url.path)
        return JSONResponse({}, status_code=429, headers={"Retry-After": DATE})

    upstream = Starlette(routes=[Route("/api/2.1/jobs/runs/get", throttled)])
    async with running(upstream) as upstream_url:
        app = create_app(etl_settings(upstream_url), clock=StoppedWallClock())
        async with running(app) as url, httpx.AsyncClient(base_url=url, timeout=60) as client:
            response = await client.get("/api/jobs/etl/runs/555")
    assert seen  # it did reach the upstream
    assert response.status_code == 503
    assert response.json()["code"] == "UPSTREAM_THROTTLED"
    assert response.headers["retry-after"] == "30"
