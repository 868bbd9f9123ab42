"""The access middleware: one log line per request with its context, and the request id a
client may choose (or the one it gets otherwise)."""

from __future__ import annotations

import re

import pytest

from tests.factories import (
    log_lines,
    make_client,
    make_run,
)

FRESH_ID = re.compile(r"[0-9a-f]{24}")


@pytest.mark.parametrize(
    "request_id",
    ["req-1", "a.b:c_D-9", "0f8fad5b-d9cb-469f-a165-70867728950e", "x" * 128],
)
async def test_a_well_formed_request_id_is_kept(client, request_id):
    response = await client.get("/livez", headers={"x-request-id": request_id})
    assert response.headers["x-request-id"] == request_id


@pytest.mark.parametrize(
    "request_id",
    [b"a\x01b", b"a\x7fb", b"a\tb", b"a b", b"a/b", b"<script>", b"caf\xc3\xa9", b"x" * 129],
)
async def test_any_other_request_id_is_replaced_by_a_fresh_one(client, request_id):
    response = await client.get("/livez", headers=[(b"x-request-id", request_id)])
    assert FRESH_ID.fullmatch(response.headers["x-request-id"])


async def test_one_access_line_per_request_with_context(json_logs, upstream, settings):
    upstream.get("/runs/get").respond(json=make_run(5))
    async with make_client(settings, upstream) as client:
        await client.get("/api/jobs/etl/runs/5", headers={"x-request-id": "req-1"})
    (access,) = [line for line in log_lines(json_logs) if line["event"] == "http.request"]
    assert access["request_id"] == "req-1"
    assert access["method"] == "GET"
    assert access["route"] == "/api/jobs/{job_key}/runs/{run_id}"
    assert access["job_key"] == "etl"
    assert access["status"] == 200
    assert access["duration_ms"] >= 0


async def test_a_long_job_key_is_logged_as_at_most_200_characters(json_logs, upstream, settings):
    async with make_client(settings, upstream) as client:
        await client.get("/api/jobs/" + "k" * 10_000 + "/status")
    (access,) = [line for line in log_lines(json_logs) if line["event"] == "http.request"]
    assert access["status"] == 404
    assert len(access["job_key"]) == 200
