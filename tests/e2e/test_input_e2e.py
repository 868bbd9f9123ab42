"""Input that must be refused, over real sockets: the service and the emulator on Hypercorn."""

from __future__ import annotations

import asyncio
import re
from urllib.parse import urlsplit

import pytest

from tests.e2e.servers import stack, stats

pytestmark = pytest.mark.looptime(False)
REFUSED_ORIGIN = {"origin": "https://evil.example", "content-type": "text/plain"}


async def raw_request(url: str, request: bytes) -> bytes:
    """Send bytes no well-behaved client would, and read the whole reply."""
    address = urlsplit(url)
    reader, writer = await asyncio.open_connection(address.hostname, address.port)
    try:
        writer.write(request)
        await writer.drain()
        return await asyncio.wait_for(reader.read(), 10)
    finally:
        writer.close()
        await writer.wait_closed()


async def test_a_pattern_refuses_a_trailing_newline_and_starts_nothing():
    async with stack() as s:
        refused = await s.api.post("/api/jobs/wheel/run", json={"params": {"table": "abc\n"}})
        runs_before = (await stats(s))["run_now_bodies"]
        accepted = await s.api.post("/api/jobs/wheel/run", json={"params": {"table": "abc"}})
        runs_after = (await stats(s))["run_now_bodies"]
    assert refused.status_code == 400
    assert refused.json()["fields"] == [
        {
            "field": "table",
            "message": "must be text, matching ^[a-z_]+$",
            "detail": "Expected `str` matching regex '^[a-z_]+$'",
        }
    ]
    assert runs_before == []
    assert accepted.status_code == 200
    assert [body["python_named_params"] for body in runs_after] == [{"table": "abc"}]


async def test_a_bad_limit_or_stream_flag_is_400_naming_it():
    async with stack() as s:
        limits = [
            (await s.api.get(f"/api/jobs/etl/runs?limit={raw}")) for raw in ("abc", "-1", "0")
        ]
        stream = await s.api.post("/api/jobs/pipeline/run?stream=yes", json={})
        calls = (await stats(s))["calls"]
    assert {(r.status_code, r.json()["error"]) for r in limits} == {
        (400, "limit must be an integer from 1 to 100")
    }
    assert (stream.status_code, stream.json()["error"]) == (
        400,
        "stream must be true or false (or 1 or 0)",
    )
    assert "runs/list" not in calls
    assert "run-now" not in calls


async def test_a_cross_site_post_or_delete_is_403_and_curl_still_works():
    async with stack() as s:
        post = await s.api.post("/api/jobs/pipeline/run", content=b"{}", headers=REFUSED_ORIGIN)
        proxied = await s.api.post(
            "/api/jobs/pipeline/run",
            content=b"{}",
            headers={"sec-fetch-site": "cross-site", "x-forwarded-host": "jobs.apps.example"},
        )
        refused_calls = dict((await stats(s))["calls"])
        started = await s.api.post("/api/jobs/pipeline/run", content=b"{}")  # as curl -d sends
        run_id = started.json()["runId"]
        own_page = await s.api.delete(
            f"/api/jobs/pipeline/runs/{run_id}",
            headers={
                "origin": "https://jobs.apps.example",
                "x-forwarded-host": "jobs.apps.example",
            },
        )
        delete = await s.api.delete(f"/api/jobs/pipeline/runs/{run_id}", headers=REFUSED_ORIGIN)
        cancels = (await stats(s))["calls"].get("runs/cancel")
    assert (post.status_code, post.json()["code"]) == (403, "CROSS_ORIGIN")
    assert (proxied.status_code, delete.status_code) == (403, 403)
    assert "run-now" not in refused_calls
    assert own_page.status_code == 204
    assert cancels == 1  # the own page's cancel, not the cross-site one


async def test_a_request_id_with_a_control_character_is_not_echoed():
    async with stack() as s:
        url = str(s.api.base_url)
        hostile = await raw_request(
            url,
            b"GET /livez HTTP/1.1\r\nHost: x\r\nX-Request-Id: a\x01b\r\nConnection: close\r\n\r\n",
        )
        plain = await raw_request(
            url,
            b"GET /livez HTTP/1.1\r\nHost: x\r\nX-Request-Id: req-7\r\nConnection: close\r\n\r\n",
        )
    assert hostile.startswith(b"HTTP/1.1 200")
    assert b"\x01" not in hostile
    assert re.search(rb"\r\nx-request-id: [0-9a-f]{24}\r\n", hostile)
    assert b"\r\nx-request-id: req-7\r\n" in plain


async def test_errors_quote_at_most_200_characters_of_a_10000_character_value_or_key():
    async with stack() as s:
        value = await s.api.post("/api/jobs/etl/run", json={"params": {"env": "v" * 10_000}})
        key = await s.api.post(
            "/api/jobs/etl/run", json={"params": {"run_date": "2026-11-29", "k" * 10_000: 1}}
        )
        calls = (await stats(s))["calls"]
    for response, letter in ((value, "v"), (key, "k")):
        assert response.status_code == 400
        assert letter * 100 in response.text  # the value in `detail`, the key as the field
        assert letter * 201 not in response.text
    assert "run-now" not in calls
