"""The recovery routes' own answers: a repair's stream, and queued runs saying why they wait."""

from __future__ import annotations

import json

import httpx

from tests.factories import make_run, sse_events

QUEUE = {"code": "MAX_CONCURRENT_RUNS_REACHED", "message": "Queued: 1 run at a time."}


def failed(**extra):
    return make_run(555, state="INTERNAL_ERROR", result="FAILED", **extra)


def queued():
    run = make_run(555, state="QUEUED", status={"state": "QUEUED", "queue_details": QUEUE})
    run["state"]["queue_reason"] = QUEUE["message"]
    return run


async def test_a_repair_with_stream_true_announces_the_repair_then_follows_the_run(
    client, upstream
):
    upstream.get("/runs/get").mock(
        side_effect=[
            httpx.Response(200, json=failed(repair_history=[{"type": "ORIGINAL"}])),
            httpx.Response(200, json=make_run(555, state="RUNNING")),
            httpx.Response(200, json=make_run(555, state="TERMINATED", result="SUCCESS")),
        ]
    )
    upstream.post("/runs/repair").respond(json={"repair_id": 7})
    response = await client.post("/api/jobs/etl/runs/555/repair?stream=true", json={})
    events = sse_events(response.text)
    assert response.headers["content-type"].startswith("text/event-stream")
    assert events[0]["event"] == "repair"
    assert "id" not in events[0]  # resuming from it must not replay the run's old end
    assert json.loads(events[0]["data"]) == {
        "runId": 555,
        "repairId": 7,
        "watchUrl": "/api/jobs/etl/runs/555/events",
    }
    assert [json.loads(e["data"])["status"] for e in events[1:]] == ["RUNNING", "TERMINATED"]


async def test_the_status_of_a_queued_run_says_why_it_waits(client, upstream):
    upstream.get("/runs/list").respond(json={"runs": [queued()]})
    reply = (await client.get("/api/jobs/etl/status")).json()
    assert reply["status"] == "QUEUED"
    assert reply["queue"] == {"code": QUEUE["code"], "reason": QUEUE["message"]}


async def test_a_run_not_queued_has_no_queue_member(client, upstream):
    upstream.get("/runs/list").respond(json={"runs": [make_run(555, state="RUNNING")]})
    assert "queue" not in (await client.get("/api/jobs/etl/status")).json()


async def test_a_watch_of_a_queued_run_says_why_it_waits_and_follows_it_out_of_the_queue(
    client, upstream
):
    upstream.get("/runs/get").mock(
        side_effect=[
            httpx.Response(200, json=queued()),
            httpx.Response(200, json=make_run(555, state="BLOCKED")),
            httpx.Response(200, json=make_run(555, state="TERMINATED", result="SUCCESS")),
        ]
    )
    response = await client.get("/api/jobs/etl/runs/555/events")
    data = [json.loads(e["data"]) for e in sse_events(response.text)]
    assert [d["status"] for d in data] == ["QUEUED", "BLOCKED", "TERMINATED"]
    assert data[0]["queue"] == {"code": QUEUE["code"], "reason": QUEUE["message"]}
    assert "queue" not in data[1]
