"""HTTP/1.1 only, over raw sockets: h2c refused, refusals close, the head bound is 16 KiB.

What the server writes is read to its end (EOF), so a connection left open fails the test; what
a request pipelined behind a refused one could have done is read off the emulator's stats.
"""

from __future__ import annotations

import asyncio
import json

import httpx
import pytest

from service.app import create_app
from service.http1 import HTTP2_REFUSAL, MAX_HEAD_BYTES
from tests.e2e.servers import (
    Stack,
    open_fds,
    port_of,
    running,
    split_response,
    stack,
    stats,
    within,
)
from tests.factories import make_settings, transport, upstream_router

pytestmark = pytest.mark.looptime(False)
PREFACE = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n"
# HTTP/2 frames after the preface: SETTINGS, then HEADERS for stream 1 without END_HEADERS.
SETTINGS_FRAME = b"\x00\x00\x00\x04\x00\x00\x00\x00\x00"
OPEN_HEADERS_FRAME = b"\x00\x00\x01\x01\x00\x00\x00\x00\x01\x82"
PARAMS = b'{"params": {"run_date": "2026-11-29"}}'
TRIGGER = (
    b"POST /api/jobs/etl/run HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
    b"Content-Length: %d\r\n\r\n%s" % (len(PARAMS), PARAMS)
)


async def exchange(url: str, data: bytes, *, within_s: float = 3.0) -> bytes:
    """Send `data` on a new connection; everything the server writes until it closes."""
    reader, writer = await asyncio.open_connection("127.0.0.1", port_of(url))
    try:
        writer.write(data)
        return await asyncio.wait_for(reader.read(), within_s)
    finally:
        writer.close()


def responses_in(raw: bytes) -> int:
    return raw.count(b"HTTP/1.1 ")


async def run_nows(s: Stack) -> int:
    return (await stats(s))["calls"].get("run-now", 0)  # type: ignore[no-any-return]


async def test_an_http2_preface_gets_goaway_http_1_1_required_and_the_connection_closes():
    async with running(create_app(make_settings())) as url:
        loop = asyncio.get_running_loop()
        sent = loop.time()
        answer = await exchange(url, PREFACE + SETTINGS_FRAME)
        took = loop.time() - sent
    assert answer == HTTP2_REFUSAL
    assert took < 1.0


@pytest.mark.parametrize(
    "opening",
    [PREFACE, PREFACE + SETTINGS_FRAME + OPEN_HEADERS_FRAME],
    ids=["preface only", "HEADERS without END_HEADERS"],
)
async def test_a_hundred_http2_connections_are_closed_and_leave_no_fd(opening):
    async with running(create_app(make_settings())) as url:
        baseline = open_fds()
        answers = await asyncio.gather(*(exchange(url, opening) for _ in range(100)))
        assert await within(1.0, lambda: open_fds() <= baseline), open_fds() - baseline
    assert set(answers) == {HTTP2_REFUSAL}


async def test_an_h2c_upgrade_is_answered_in_http1_on_a_connection_that_stays_http1():
    upgrade = (
        b"GET /livez HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: Upgrade, HTTP2-Settings\r\n"
        b"Upgrade: h2c\r\nHTTP2-Settings: AAMAAABkAARAAAAAAAIAAAAA\r\n\r\n"
    )
    async with running(create_app(make_settings())) as url:
        reader, writer = await asyncio.open_connection("127.0.0.1", port_of(url))
        writer.write(upgrade)
        first = await asyncio.wait_for(reader.readuntil(b'{"status":"ok"}'), 3)
        writer.write(b"GET /livez HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n")
        second = await asyncio.wait_for(reader.read(), 3)
        writer.close()
    status, headers, _ = split_response(first)
    assert (status, "upgrade" in headers) == (200, False)
    assert second.startswith(b"HTTP/1.1 200")


MALFORMED = (400, "BAD_REQUEST", "Malformed HTTP request")


@pytest.mark.parametrize(
    ("refused", "answer"),
    [
        (
            b"POST /api/jobs/etl/run HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: 5\r\n"
            b"Transfer-Encoding: chunked\r\n\r\n0\r\n\r\n",
            (400, "BAD_REQUEST", "Content-Length and Transfer-Encoding together"),
        ),
        (
            b"POST /api/jobs/etl/run HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: 5\r\n"
            b"Content-Length: 6\r\n\r\nhello!",
            MALFORMED,
        ),
        (
            b"POST /api/jobs/etl/run HTTP/1.1\r\nHost: 127.0.0.1\r\n"
            b"Transfer-Encoding: gzip, chunked\r\n\r\n0\r\n\r\n",
            (501, "BAD_REQUEST", "Malformed HTTP request"),
        ),
        (b"GET /livez HTTP/1.1\r\nHost: 127.0.0.1\r\nno colon\r\n\r\n", MALFORMED),
        (
            b"GET /livez HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Pad: " + b"a" * 20_000 + b"\r\n\r\n",
            (431, "HEADERS_TOO_LARGE", "Request head is larger than 16384 bytes"),
        ),
    ],
    ids=["CL with TE", "two lengths", "TE other than chunked", "malformed header", "head over 16K"],
)
async def test_a_refused_request_is_one_error_then_eof_and_what_follows_never_runs(refused, answer):
    status, code, error = answer
    async with stack() as s:
        written = await exchange(str(s.api.base_url), refused + TRIGGER)
        started = await run_nows(s)
    assert responses_in(written) == 1
    got, headers, body = split_response(written)
    assert (got, headers["connection"]) == (status, "close")
    assert json.loads(body) == {"error": error, "code": code, "plugin": "jobs"}
    assert started == 0


async def test_a_trigger_pipelined_behind_a_served_request_still_runs():
    """The other side of the test above: pipelining itself works."""
    async with stack() as s:
        livez = b"GET /livez HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n"
        closing = TRIGGER.replace(
            b"Host: 127.0.0.1\r\n", b"Host: 127.0.0.1\r\nConnection: close\r\n"
        )
        answer = await exchange(str(s.api.base_url), livez + closing)
        started = await run_nows(s)
    assert (responses_in(answer), started) == (2, 1)


@pytest.mark.parametrize(
    ("overrides", "request_head", "status"),
    [
        (
            {},
            b"POST /api/jobs/etl/run HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: 500000\r\n\r\n",
            413,
        ),
        (
            {"ACCESS_MODE": "token", "SIDECAR_API_KEYS": "ci:0123456789abcdef0123"},
            b"POST /api/jobs/etl/run HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: 10\r\n\r\n",
            401,
        ),
    ],
    ids=["413 declared too large", "401 before the body"],
)
async def test_a_response_sent_before_the_body_arrives_says_connection_close(
    overrides, request_head, status
):
    environ = {
        "DATABRICKS_HOST": "https://ws.test",
        "DATABRICKS_TOKEN": "dapi-t",
        "HOST": "127.0.0.1",
    }
    environ |= {"DATABRICKS_JOB_ETL": "101", **overrides}
    app = create_app(make_settings(environ=environ), upstream=transport(upstream_router()))
    async with running(app) as url:
        answer = await exchange(url, request_head)  # the body never comes
    got, headers, _ = split_response(answer)
    assert (got, headers["connection"]) == (status, "close")


@pytest.mark.parametrize(
    ("size", "status"),
    [(16 * 1024 - 1, 200), (MAX_HEAD_BYTES, 200), (17 * 1024, 431), (63 * 1024, 431)],
    ids=["16K-1", "16K", "17K", "63K"],
)
async def test_the_head_limit_is_16_kib_however_the_head_arrives(size, status):
    start = b"GET /livez HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\nX-Pad: "
    head = start + b"a" * (size - len(start) - 4) + b"\r\n\r\n"
    assert len(head) == size
    async with running(create_app(make_settings())) as url:
        answer = await exchange(url, head)
    got, headers, body = split_response(answer)
    assert (got, headers["connection"]) == (status, "close")
    if status == 431:
        assert json.loads(body)["code"] == "HEADERS_TOO_LARGE"


async def test_a_response_finished_while_the_server_stops_says_connection_close():
    router = upstream_router()
    asked, answered = asyncio.Event(), asyncio.Event()

    async def slow_run_now(_request):
        asked.set()
        await answered.wait()
        return httpx.Response(200, json={"run_id": 7})

    router.post("/run-now").mock(side_effect=slow_run_now)
    stopping = asyncio.Event()
    app = create_app(make_settings(), upstream=transport(router))
    async with running(app, shutdown=stopping) as url:
        reader, writer = await asyncio.open_connection("127.0.0.1", port_of(url))
        writer.write(
            b"POST /api/jobs/etl/run HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: 2\r\n\r\n{}"
        )
        await asyncio.wait_for(asked.wait(), 5)  # the trigger waits on Databricks
        stopping.set()
        await asyncio.sleep(0.2)  # the server stops accepting; the trigger is still in flight
        answered.set()
        answer = await asyncio.wait_for(reader.read(), 5)
        writer.close()
    got, headers, _ = split_response(answer)
    assert (got, headers["connection"]) == (200, "close")
