"""Event streams over HTTP: run-and-wait, watching a run, resume, heartbeats, caps, draining."""

from __future__ import annotations

import asyncio
import json

import httpx
import pytest

from service.app import create_app
from tests.factories import (
    JOB_IDS,
    advance,
    make_client,
    make_run,
    make_settings,
    sse_events,
    timeline,
    transport,
    upstream_router,
    with_lifespan,
)

STEPS = [(0, "PENDING"), (10, "RUNNING"), (40, "TERMINATED")]


def app_settings(**overrides):
    return make_settings(poll_interval_ms=5000, **overrides)


async def test_run_stream_announces_the_run_then_each_change():
    router = upstream_router()
    router.post("/run-now").respond(json={"run_id": 555})
    router.get("/runs/get").mock(side_effect=timeline(STEPS))
    async with make_client(app_settings(), router) as client:
        response = await client.post("/api/jobs/etl/run?stream=true", json={"params": {}})
    events = sse_events(response.text)
    assert events[0]["event"] == "run"
    assert json.loads(events[0]["data"]) == {
        "runId": 555,
        "watchUrl": "/api/jobs/etl/runs/555/events",
    }
    data = [json.loads(e["data"]) for e in events[1:]]
    assert [d["status"] for d in data] == ["PENDING", "RUNNING", "TERMINATED"]
    assert [d["result"] for d in data] == [None, None, "SUCCESS"]
    assert all(set(d) == {"status", "result", "timestamp", "run"} for d in data)
    assert all("id" in e for e in events)


async def test_stream_headers_and_retry_hint():
    router = upstream_router()
    router.get("/runs/get").respond(json=make_run(555, state="TERMINATED", result="SUCCESS"))
    async with make_client(app_settings(), router) as client:
        response = await client.get("/api/jobs/etl/runs/555/events")
    assert response.headers["content-type"].startswith("text/event-stream")
    assert response.headers["cache-control"] == "no-cache, no-transform"
    assert response.headers["x-accel-buffering"] == "no"
    assert "content-encoding" not in response.headers
    assert response.text.startswith("retry: ")


async def test_watching_a_terminal_run_sends_one_final_event():
    router = upstream_router()
    polls = router.get("/runs/get").respond(json=make_run(555, state="TERMINATED", result="FAILED"))
    async with make_client(app_settings(), router) as client:
        response = await client.get("/api/jobs/etl/runs/555/events")
    (event,) = sse_events(response.text)
    assert json.loads(event["data"])["run"]["state"]["result_state"] == "FAILED"
    assert polls.call_count == 1


async def test_watch_never_triggers_a_run():
    router = upstream_router()
    trigger = router.post("/run-now").respond(json={"run_id": 1})
    router.get("/runs/get").mock(side_effect=timeline(STEPS))
    async with make_client(app_settings(), router) as client:
        await client.get("/api/jobs/etl/runs/555/events")
    assert not trigger.called


async def test_watching_another_jobs_run_is_404_before_the_stream():
    router = upstream_router()
    router.get("/runs/get").respond(json=make_run(555, job_id=JOB_IDS["other"]))
    async with make_client(app_settings(), router) as client:
        response = await client.get("/api/jobs/etl/runs/555/events")
    assert response.status_code == 404
    assert response.headers["content-type"] == "application/json"


async def test_quiet_streams_get_heartbeats():
    router = upstream_router()
    router.get("/runs/get").mock(side_effect=timeline([(0, "RUNNING"), (100, "TERMINATED")]))
    async with make_client(app_settings(heartbeat_ms=15000, poll_max_ms=5000), router) as client:
        response = await client.get("/api/jobs/etl/runs/555/events")
    assert response.text.count(": heartbeat") >= 5


async def test_resume_with_last_event_id_header_or_query():
    router = upstream_router()
    router.get("/runs/get").mock(side_effect=timeline(STEPS))
    async with make_client(app_settings(), router) as client:
        keeper = asyncio.create_task(client.get("/api/jobs/etl/runs/555/events"))
        await advance(20)  # PENDING (1) and RUNNING (2) have been seen
        first = sse_events((await keeper).text)
        pending_id = first[0]["id"]
        by_header = await client.get(
            "/api/jobs/etl/runs/555/events", headers={"Last-Event-ID": pending_id}
        )
        by_query = await client.get(f"/api/jobs/etl/runs/555/events?lastEventId={pending_id}")
        done = await client.get(
            "/api/jobs/etl/runs/555/events", headers={"Last-Event-ID": first[-1]["id"]}
        )
    for response in (by_header, by_query):
        assert [json.loads(e["data"])["status"] for e in sse_events(response.text)] == [
            "RUNNING",
            "TERMINATED",
        ]
    assert done.status_code == 204


async def test_stream_validation_fails_before_the_stream_starts(tmp_path):
    router = upstream_router()
    trigger = router.post("/run-now").respond(json={"run_id": 1})
    settings = make_settings(
        '[jobs.etl]\njob_id = 101\n[jobs.etl.params]\nstartDate = "date"\n', tmp_path=tmp_path
    )
    async with make_client(settings, router) as client:
        response = await client.post(
            "/api/jobs/etl/run?stream=true", json={"params": {"startDate": 5}}
        )
    assert response.status_code == 400
    assert response.headers["content-type"] == "application/json"
    assert response.json()["error"].endswith("startDate must be a date like 2026-11-29")
    assert not trigger.called


async def test_upstream_failures_mid_stream_end_with_error_event():
    router = upstream_router()
    router.post("/run-now").respond(json={"run_id": 555})
    router.get("/runs/get").respond(500, json={"error_code": "INTERNAL_ERROR", "message": "boom"})
    async with make_client(app_settings(), router) as client:
        response = await client.post("/api/jobs/etl/run?stream=true", json={})
    last = sse_events(response.text)[-1]
    assert last["event"] == "error"
    assert json.loads(last["data"]) == {
        "error": "Databricks is unavailable",
        "code": "UPSTREAM_UNAVAILABLE",
        "plugin": "jobs",
    }
    assert "boom" not in response.text


async def test_stream_cap_answers_503_with_retry_after():
    router = upstream_router()
    async with make_client(app_settings(max_streams=0), router) as client:
        response = await client.get("/api/jobs/etl/runs/555/events")
    assert response.status_code == 503
    assert response.headers["retry-after"]


async def test_draining_fails_readiness_and_refuses_triggers():
    router = upstream_router()
    trigger = router.post("/run-now").respond(json={"run_id": 1})
    draining = asyncio.Event()
    async with make_client(app_settings(), router, draining=draining) as client:
        assert (await client.get("/readyz")).status_code == 200
        draining.set()
        ready = await client.get("/readyz")
        run = await client.post("/api/jobs/etl/run", json={})
        watch = await client.get("/api/jobs/etl/runs/555/events")
        live = await client.get("/livez")
    assert ready.status_code == 503
    assert run.status_code == 503
    assert watch.status_code == 503
    assert live.status_code == 200
    assert not trigger.called


async def test_run_stream_times_out_after_wait_timeout(tmp_path):
    router = upstream_router()
    router.post("/run-now").respond(json={"run_id": 555})
    router.get("/runs/get").respond(json=make_run(555, state="RUNNING"))
    settings = make_settings(
        "[jobs.etl]\njob_id = 101\nwait_timeout_ms = 30000\n", tmp_path=tmp_path
    )
    async with make_client(settings, router) as client:
        response = await client.post("/api/jobs/etl/run?stream=true", json={})
    last = sse_events(response.text)[-1]
    assert last["event"] == "error"
    # The same error, in the same words, as the Python API's run_and_wait raises.
    assert json.loads(last["data"]) == {
        "error": "Run 555 did not finish within 30000 ms",
        "code": "WAIT_TIMEOUT",
        "plugin": "jobs",
    }


@pytest.mark.parametrize(
    ("where", "value"),
    [("query", "x-" + "9" * 5000), ("query", "x-\u00b2"), ("header", "x-\u00b2")],
    ids=["5000-digits", "superscript-query", "superscript-header"],
)
async def test_odd_last_event_ids_get_the_snapshot_not_a_500(where, value):
    router = upstream_router()
    router.get("/runs/get").respond(json=make_run(555, state="TERMINATED", result="SUCCESS"))
    async with make_client(app_settings(), router) as client:
        if where == "query":
            response = await client.get(
                "/api/jobs/etl/runs/555/events", params={"lastEventId": value}
            )
        else:
            response = await client.get(
                "/api/jobs/etl/runs/555/events",
                headers={"Last-Event-ID": value.encode("latin-1")},
            )
    assert response.status_code == 200
    (event,) = sse_events(response.text)
    assert json.loads(event["data"])["status"] == "TERMINATED"


async def test_resume_ids_this_watch_never_sent_get_the_snapshot_and_spaces_are_forgiven():
    router = upstream_router()
    router.get("/runs/get").mock(side_effect=timeline([(0, "RUNNING"), (10, "TERMINATED")]))
    async with make_client(app_settings(), router) as client:
        (*_, final) = sse_events((await client.get("/api/jobs/etl/runs/555/events")).text)
        epoch, _, seq = final["id"].rpartition("-")
        ahead = await client.get(
            "/api/jobs/etl/runs/555/events", headers={"Last-Event-ID": f"{epoch}-{int(seq) + 5}"}
        )
        spaced = await client.get(
            "/api/jobs/etl/runs/555/events", headers={"Last-Event-ID": f" {final['id']} "}
        )
    assert [e["id"] for e in sse_events(ahead.text)] == [final["id"]]  # not an empty stream
    assert spaced.status_code == 204


async def test_the_stream_cap_counts_streams_still_being_set_up():
    router = upstream_router()

    async def slow_get(request: httpx.Request) -> httpx.Response:
        await advance(0.5)  # upstream latency (loop time): the window between admission and opening
        run_id = int(request.url.params["run_id"])
        return timeline([(0, "RUNNING"), (60, "TERMINATED")], run_id=run_id)(request)

    router.get("/runs/get").mock(side_effect=slow_get)
    statuses: list[int] = []
    async with make_client(app_settings(max_streams=2), router) as client:

        async def watch(run_id: int) -> None:
            async with client.stream("GET", f"/api/jobs/etl/runs/{run_id}/events") as response:
                statuses.append(response.status_code)
                await advance(3)

        await asyncio.gather(*(watch(run_id) for run_id in range(1, 6)))
    assert sorted(statuses) == [200, 200, 503, 503, 503]


@pytest.mark.parametrize("indent", [None, 2], ids=["trailing-newline", "pretty-printed"])
async def test_event_data_is_one_json_value_whatever_the_upstream_whitespace(indent):
    body = json.dumps(make_run(555, state="TERMINATED", result="SUCCESS"), indent=indent) + "\n"
    router = upstream_router()
    router.get("/runs/get").respond(content=body.encode(), content_type="application/json")
    async with make_client(app_settings(), router) as client:
        response = await client.get("/api/jobs/etl/runs/555/events")
    (block,) = [b for b in response.text.split("\n\n") if "data:" in b]
    # As EventSource does: every data line, joined by newlines.
    data = "\n".join(
        line[len("data: ") :] for line in block.split("\n") if line.startswith("data:")
    )
    assert json.loads(data)["run"]["state"]["life_cycle_state"] == "TERMINATED"


async def test_a_watch_is_not_cut_by_the_run_and_wait_timeout(tmp_path):
    router = upstream_router()
    router.get("/runs/get").mock(side_effect=timeline([(0, "RUNNING"), (90, "TERMINATED")]))
    settings = make_settings(
        "[jobs.etl]\njob_id = 101\nwait_timeout_ms = 30000\n", tmp_path=tmp_path
    )
    async with make_client(settings, router) as client:
        response = await client.get("/api/jobs/etl/runs/555/events")
    events = sse_events(response.text)
    assert [json.loads(e["data"])["status"] for e in events] == ["RUNNING", "TERMINATED"]


async def test_a_stalled_socket_is_let_go_within_a_heartbeat_and_others_go_on():
    """A client that stops reading, as Hypercorn shows it: a `send` that never completes."""
    router = upstream_router()
    router.get("/runs/get").mock(
        side_effect=timeline([(0, "PENDING"), (30, "RUNNING"), (60, "TERMINATED")])
    )
    app = create_app(
        make_settings(poll_interval_ms=5000, heartbeat_ms=15_000), upstream=transport(router)
    )
    never = asyncio.Event()
    taken: list[dict] = []

    async def stalled_send(message: dict) -> None:
        taken.append(message)
        if message["type"] == "http.response.body":  # the first chunk fills the socket
            await never.wait()

    async def silent_receive() -> dict:
        await never.wait()  # nor does the client ever say it has gone
        return {"type": "http.disconnect"}

    path = "/api/jobs/etl/runs/555/events"
    scope = {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": "GET",
        "scheme": "http",
        "path": path,
        "raw_path": path.encode(),
        "query_string": b"",
        "root_path": "",
        "headers": [(b"host", b"sidecar.test")],
        "client": ("127.0.0.1", 5000),
        "server": ("sidecar.test", 80),
    }
    loop = asyncio.get_running_loop()
    async with with_lifespan(app) as (asgi, client):
        started = loop.time()
        stalled = asyncio.create_task(asgi(scope, silent_receive, stalled_send))
        healthy = asyncio.create_task(client.get(path))
        await asyncio.wait_for(stalled, 60)
        stalled_for = loop.time() - started
        response = await healthy
        metrics = (await client.get("/metrics")).text
    assert stalled_for <= 15 + 1  # one heartbeat
    assert [m["type"] for m in taken] == ["http.response.start", "http.response.body"]
    statuses = [json.loads(e["data"])["status"] for e in sse_events(response.text)]
    assert statuses == ["PENDING", "RUNNING", "TERMINATED"]  # the other watcher missed nothing
    assert "sidecar_open_streams 0.0" in metrics
