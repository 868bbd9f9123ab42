"""One client cannot take the process down: fds, slow or huge requests, dead peers, over sockets."""

from __future__ import annotations

import asyncio
import json
import os
import socket

import httpx
import pytest

from service.app import create_app
from service.serving import listening_socket
from tests.e2e.servers import open_fds, port_of, running, split_response, within
from tests.factories import make_settings, transport, upstream_router

pytestmark = pytest.mark.looptime(False)
LIVEZ = b"GET /livez HTTP/1.1\r\nHost: t\r\n\r\n"


def rss_bytes() -> int:
    with open("/proc/self/statm") as statm:
        return int(statm.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")


def app_with(router=None, **overrides):
    return create_app(make_settings(**overrides), upstream=transport(router or upstream_router()))


async def test_connections_closed_by_their_clients_release_their_fds_at_once():
    async with running(app_with()) as url:
        baseline = open_fds()

        async def one_request_then_close() -> None:
            reader, writer = await asyncio.open_connection("127.0.0.1", port_of(url))
            writer.write(LIVEZ)
            assert (await reader.readuntil(b'{"status":"ok"}')).startswith(b"HTTP/1.1 200")
            writer.close()
            await writer.wait_closed()

        await asyncio.gather(*(one_request_then_close() for _ in range(200)))
        # Not the 75 s keep-alive: back to baseline as soon as the server has read each EOF.
        assert await within(1.0, lambda: open_fds() <= baseline), open_fds() - baseline
        tasks = len(asyncio.all_tasks())
    assert tasks < 10  # the test, the server and its lifespan; no connection's tasks


async def test_a_connection_idle_between_requests_is_kept_alive():
    async with running(app_with(), header_timeout_s=0.2) as url:
        reader, writer = await asyncio.open_connection("127.0.0.1", port_of(url))
        writer.write(LIVEZ)
        await reader.readuntil(b'{"status":"ok"}')
        await asyncio.sleep(0.3)  # past the head timeout, but no byte of a next request yet
        writer.write(LIVEZ)
        second = await asyncio.wait_for(reader.readuntil(b'{"status":"ok"}'), 2)
        writer.close()
    assert second.startswith(b"HTTP/1.1 200")


async def test_headers_trickling_in_are_cut_with_408_and_others_are_still_served():
    async with (
        running(app_with(), header_timeout_s=0.5) as url,
        httpx.AsyncClient(base_url=url) as client,
    ):
        loop = asyncio.get_running_loop()
        started = loop.time()

        async def slowloris() -> tuple[bytes, float]:
            reader, writer = await asyncio.open_connection("127.0.0.1", port_of(url))
            writer.write(b"GET /livez HTTP/1.1\r\n")

            async def trickle() -> None:
                while True:
                    writer.write(b"X")  # a header name that never ends, a byte at a time
                    await asyncio.sleep(0.05)

            dribbling = asyncio.create_task(trickle())
            try:
                answer = await asyncio.wait_for(reader.read(), 5)  # until the server closes
            finally:
                dribbling.cancel()
                writer.close()
            return answer, loop.time() - started

        slow = [asyncio.create_task(slowloris()) for _ in range(100)]
        await asyncio.sleep(0.1)
        asked = loop.time()
        normal = await client.get("/livez")
        answered_in = loop.time() - asked
        results = await asyncio.gather(*slow)
    assert normal.status_code == 200
    assert answered_in < 0.4  # well before the slow heads are cut: nothing waited on them
    for answer, cut_after in results:
        status, headers, body = split_response(answer)
        assert status == 408
        assert headers["connection"] == "close"
        assert json.loads(body) == {
            "error": "Request headers not received in time",
            "code": "REQUEST_TIMEOUT",
            "plugin": "jobs",
        }
        assert 0.45 < cut_after < 2.0


async def test_a_connection_that_sends_nothing_is_closed_at_the_head_timeout():
    async with running(app_with(), header_timeout_s=0.3) as url:
        reader, writer = await asyncio.open_connection("127.0.0.1", port_of(url))
        answer = await asyncio.wait_for(reader.read(), 2)
        writer.close()
    assert answer == b""  # nothing of a request arrived, so no response either


@pytest.mark.parametrize(
    ("request_bytes", "status", "code"),
    [
        (b"GET /livez HTTP/1.1\r\nHost: t\r\nX-Big: " + b"a" * 70_000 + b"\r\n\r\n", 431,
         "HEADERS_TOO_LARGE"),
        (b"GET /livez HTTP/1.1\r\nHost: t\r\nno colon here\r\n\r\n", 400, "BAD_REQUEST"),
        (b"NOT A REQUEST LINE\r\n\r\n", 400, "BAD_REQUEST"),
    ],
    ids=["head too large", "malformed header", "malformed request line"],
)  # fmt: skip
async def test_a_request_h11_refuses_gets_our_json_error(request_bytes, status, code):
    async with running(app_with()) as url:
        reader, writer = await asyncio.open_connection("127.0.0.1", port_of(url))
        writer.write(request_bytes)
        answer = await asyncio.wait_for(reader.read(), 3)
        writer.close()
        alive = await asyncio.open_connection("127.0.0.1", port_of(url))  # still serving
        alive[1].close()
    got, headers, body = split_response(answer)
    assert (got, headers["content-type"]) == (status, "application/json")
    assert json.loads(body)["code"] == code
    assert json.loads(body)["plugin"] == "jobs"


async def test_a_body_that_stops_arriving_is_408_at_the_body_timeout():
    router = upstream_router()
    trigger = router.post("/run-now").respond(json={"run_id": 7})
    async with running(app_with(router, body_timeout_ms=400)) as url:
        reader, writer = await asyncio.open_connection("127.0.0.1", port_of(url))
        writer.write(
            b"POST /api/jobs/etl/run HTTP/1.1\r\nHost: localhost\r\n"
            b"Content-Type: application/json\r\n"
            b'Content-Length: 100\r\n\r\n{"params": '
        )
        answer = await asyncio.wait_for(reader.read(), 3)
        writer.close()
    status, _, body = split_response(answer)
    assert status == 408
    assert json.loads(body)["code"] == "REQUEST_TIMEOUT"
    assert not trigger.called


async def test_a_declared_oversized_body_is_413_before_any_of_it_is_sent():
    router = upstream_router()
    trigger = router.post("/run-now").respond(json={"run_id": 7})
    async with running(app_with(router)) as url:
        reader, writer = await asyncio.open_connection("127.0.0.1", port_of(url))
        writer.write(
            b"POST /api/jobs/etl/run HTTP/1.1\r\nHost: localhost\r\n"
            b"Content-Type: application/json\r\n"
            b"Content-Length: 500000000\r\n\r\n"
        )
        answer = await asyncio.wait_for(reader.read(), 3)
        writer.close()
    status, _, body = split_response(answer)
    assert status == 413
    assert json.loads(body) == {
        "error": "Request body is larger than 65536 bytes",
        "code": "PAYLOAD_TOO_LARGE",
        "plugin": "jobs",
    }
    assert not trigger.called


async def test_a_chunked_oversized_body_is_413_while_the_client_is_still_sending():
    router = upstream_router()
    trigger = router.post("/run-now").respond(json={"run_id": 7})
    chunk = b"a" * 65536
    chunks = 2048  # 128 MiB, were it all sent
    async with running(app_with(router)) as url:
        reader, writer = await asyncio.open_connection("127.0.0.1", port_of(url))
        rss_before = rss_bytes()
        writer.write(
            b"POST /api/jobs/etl/run HTTP/1.1\r\nHost: localhost\r\n"
            b"Content-Type: application/json\r\n"
            b'Transfer-Encoding: chunked\r\n\r\n12\r\n{"params": {"x": "\r\n'
        )
        sent = 0

        async def send_body() -> None:
            nonlocal sent
            for _ in range(chunks):
                writer.write(b"10000\r\n" + chunk + b"\r\n")
                await writer.drain()
                sent += len(chunk)

        sending = asyncio.create_task(send_body())
        answer = await asyncio.wait_for(reader.readuntil(b'"plugin":"jobs"}'), 10)
        sent_when_answered = sent
        rss_grown = rss_bytes() - rss_before
        sending.cancel()
        await asyncio.gather(sending, return_exceptions=True)
        writer.close()
    status, _, _ = split_response(answer)
    assert status == 413
    assert sent_when_answered < chunks * len(chunk) // 4  # most of it never left the client
    assert rss_grown < 16 * 2**20  # nothing the size of the body was held
    assert not trigger.called


async def test_a_deeply_nested_body_is_400():
    router = upstream_router()
    trigger = router.post("/run-now").respond(json={"run_id": 7})
    body = b'{"params": {"x": ' + b"[" * 10_000 + b"]" * 10_000 + b"}}"
    async with running(app_with(router)) as url, httpx.AsyncClient(base_url=url) as client:
        response = await client.post("/api/jobs/etl/run", content=body)
    assert response.status_code == 400
    assert response.json()["error"] == "Request body is nested too deeply"
    assert not trigger.called


def test_accepted_connections_detect_a_vanished_peer_within_the_timeout():
    with listening_socket("127.0.0.1", 0, dead_peer_timeout_s=120) as server:
        server.setblocking(True)
        server.listen()
        with socket.create_connection(server.getsockname()) as _client:
            accepted, _ = server.accept()
    with accepted:
        tcp = socket.IPPROTO_TCP
        options = {
            "keepalive": accepted.getsockopt(socket.SOL_SOCKET, socket.SO_KEEPALIVE),
            "idle_s": accepted.getsockopt(tcp, socket.TCP_KEEPIDLE),
            "interval_s": accepted.getsockopt(tcp, socket.TCP_KEEPINTVL),
            "probes": accepted.getsockopt(tcp, socket.TCP_KEEPCNT),
            "user_timeout_ms": accepted.getsockopt(tcp, socket.TCP_USER_TIMEOUT),
        }
    assert options == {
        "keepalive": 1,
        "idle_s": 60,
        "interval_s": 10,
        "probes": 6,
        "user_timeout_ms": 120_000,
    }
    assert options["idle_s"] + options["interval_s"] * options["probes"] <= 120
