"""The API document, its page and the runs' `result`, over real sockets (service + emulator)."""

from __future__ import annotations

import json

import pytest
from openapi_spec_validator import validate

from service.settings_file import LimitsTable
from tests.e2e.servers import stack
from tests.factories import sse_events

pytestmark = pytest.mark.looptime(False)


async def test_the_served_document_is_valid_and_the_page_loads_with_its_assets():
    async with stack() as s:
        document = (await s.api.get("/openapi.json")).json()
        page = await s.api.get("/docs")
        assets = [await s.api.get(f"/{url}") for url in ("docs/assets/swagger-ui-bundle.js",)]
    validate(document)
    assert "/api/jobs/etl/run" in document["paths"]
    assert page.status_code == 200
    assert "docs/assets/swagger-ui-bundle.js" in page.text
    assert [(a.status_code, a.headers["content-type"]) for a in assets] == [
        (200, "text/javascript; charset=utf-8")
    ]


async def test_result_is_on_top_of_status_events_and_listed_runs():
    async with stack() as s:
        started = await s.api.post("/api/jobs/etl/run", json={"params": {"run_date": "2026-11-29"}})
        run_id = started.json()["runId"]
        events = await s.api.get(f"/api/jobs/etl/runs/{run_id}/events")
        status = (await s.api.get("/api/jobs/etl/status")).json()
        listed = (await s.api.get("/api/jobs/etl/runs?limit=1")).json()["runs"]
    messages = [json.loads(e["data"]) for e in sse_events(events.text) if e["event"] == "message"]
    assert [m["result"] for m in messages[:-1]] == [None] * (len(messages) - 1)
    assert messages[-1]["result"] == "SUCCESS"
    assert messages[-1]["run"]["state"]["result_state"] == "SUCCESS"  # kept as sent
    assert (status["status"], status["result"], status["run"]["run_id"]) == (
        "TERMINATED",
        "SUCCESS",
        run_id,
    )
    assert (listed[0]["run_id"], listed[0]["result"]) == (run_id, "SUCCESS")


async def test_the_document_is_a_read_counted_against_the_read_rate():
    async with stack(limits=LimitsTable(read="3/hour")) as s:
        answers = [await s.api.get("/openapi.json") for _ in range(3)]
        job_route = await s.api.get("/api/jobs/etl/status")  # the same caller's same count
        refused = await s.api.get("/openapi.json")
    assert [a.status_code for a in answers] == [200, 200, 200]
    assert len({a.content for a in answers}) == 1
    assert (job_route.status_code, refused.status_code) == (429, 429)
    assert refused.json()["code"] == "RATE_LIMITED"
    assert refused.headers["ratelimit-limit"] == "3"
    assert int(refused.headers["retry-after"]) > 0
