"""What Databricks sends, decoded as the reply's check: a body without the fields we read,
or of the wrong shape, is a 502 (an unknown outcome for run-now), never a 500."""

from __future__ import annotations

import msgspec
import pytest

from service.upstream.wire import Run, run_from_raw
from tests.factories import make_run, make_task


async def test_invalid_json_output_is_502_not_500(client, upstream):
    upstream.get("/runs/get").respond(json=make_run(5))
    upstream.get("/runs/get-output").respond(200, content=b'{"metadata": {"state": ')
    response = await client.get("/api/jobs/etl/runs/5/output")
    assert (response.status_code, response.json()["code"]) == (502, "UPSTREAM_INVALID")


@pytest.mark.parametrize(
    ("method", "verb", "path", "body"),
    [
        ("GET", "runs/get", "/api/jobs/etl/runs/5", {"run_id": "5", "job_id": 101}),
        ("GET", "runs/get", "/api/jobs/etl/runs/5", {"run_id": 5}),
        ("GET", "runs/get", "/api/jobs/etl/runs/5", [make_run(5)]),
        ("GET", "runs/list", "/api/jobs/etl/runs", {"runs": [1, 2]}),
        ("GET", "runs/list", "/api/jobs/etl/status", {"runs": [{"run_id": 5}]}),
        ("GET", "get", "/api/jobs/etl", {"settings": {"name": "etl"}}),
        ("GET", "get", "/api/jobs/etl", "job"),
    ],
)
async def test_a_reply_without_the_fields_we_rely_on_is_502(
    client, upstream, method, verb, path, body
):
    route = getattr(upstream, method.lower())(f"/{verb}").respond(json=body)
    response = await client.request(method, path, json={} if method == "POST" else None)
    assert (response.status_code, response.json()["code"]) == (502, "UPSTREAM_INVALID")
    assert route.call_count == 3  # a garbled reply may be a passing fault: retried like a 5xx


@pytest.mark.parametrize("body", [{"run_id": "7"}, {}])
async def test_an_invalid_run_now_reply_is_an_unknown_outcome(client, upstream, body):
    """The run may exist though its answer cannot be read: the client gets the key to retry."""
    route = upstream.post("/run-now").respond(json=body)
    response = await client.post("/api/jobs/etl/run", json={})
    assert (response.status_code, response.json()["code"]) == (502, "OUTCOME_UNKNOWN")
    assert response.json()["idempotencyKey"] == response.headers["idempotency-key"]
    assert route.call_count == 3


async def test_a_cancel_answered_with_a_non_object_is_502(client, upstream):
    upstream.get("/runs/get").respond(json=make_run(5))
    upstream.post("/runs/cancel").respond(json=[])
    response = await client.delete("/api/jobs/etl/runs/5")
    assert (response.status_code, response.json()["code"]) == (502, "UPSTREAM_INVALID")


@pytest.mark.parametrize(
    "output",
    [{"metadata": "x"}, {"metadata": {"state": {"life_cycle_state": 3}}}, ["x"]],
)
async def test_output_of_the_wrong_shape_is_502(client, upstream, output):
    upstream.get("/runs/get").respond(json=make_run(5))
    upstream.get("/runs/get-output").respond(json=output)
    response = await client.get("/api/jobs/etl/runs/5/output")
    assert (response.status_code, response.json()["code"]) == (502, "UPSTREAM_INVALID")


JAVASCRIPT = "javascript:alert(1)"


@pytest.mark.parametrize(
    ("verb", "path", "reply"),
    [
        ("runs/get", "/api/jobs/etl/runs/5", make_run(5, run_page_url=JAVASCRIPT)),
        ("runs/list", "/api/jobs/etl/runs", {"runs": [make_run(5, run_page_url=JAVASCRIPT)]}),
        ("runs/list", "/api/jobs/etl/status", {"runs": [make_run(5, run_page_url=JAVASCRIPT)]}),
    ],
)
async def test_a_run_page_url_that_is_not_http_never_reaches_a_client(
    client, upstream, verb, path, reply
):
    upstream.get(f"/{verb}").respond(json=reply)
    response = await client.get(path)
    assert response.status_code == 200
    assert JAVASCRIPT not in response.text
    assert "run_id" in response.text


async def test_a_tasks_run_page_url_that_is_not_http_never_reaches_a_client(client, upstream):
    task = make_task("a", 6) | {"run_page_url": JAVASCRIPT}
    upstream.get("/runs/get").respond(
        json=make_run(5, tasks=[task], state="TERMINATED", result="SUCCESS")
    )
    output = {"metadata": make_run(6, run_page_url=JAVASCRIPT), "logs": "done"}
    upstream.get("/runs/get-output").respond(json=output)
    run = await client.get("/api/jobs/etl/runs/5")
    outputs = await client.get("/api/jobs/etl/runs/5/output")
    assert (run.status_code, outputs.status_code) == (200, 200)
    assert JAVASCRIPT not in run.text + outputs.text
    assert "done" in outputs.text


def queued(**extra: object) -> Run:
    run = {**make_run(5, state="QUEUED"), **extra}
    return run_from_raw(msgspec.Raw(msgspec.json.encode(run))).run


def test_a_queued_run_says_why_it_waits_from_either_state_object():
    details = {"code": "MAX_CONCURRENT_RUNS_REACHED", "message": "Queued: 1 run at a time."}
    v2 = queued(status={"state": "QUEUED", "queue_details": details})
    v1 = queued(state={"life_cycle_state": "QUEUED", "queue_reason": "Queued: the workspace."})
    assert (v2.queue_code, v2.queue_reason) == ("MAX_CONCURRENT_RUNS_REACHED", details["message"])
    assert (v1.queue_code, v1.queue_reason) == (None, "Queued: the workspace.")
    assert queued().queue_reason is None


def test_a_run_never_repaired_or_read_without_its_history_has_no_latest_repair():
    assert queued().latest_repair_id is None
    assert queued(repair_history=[{"type": "ORIGINAL", "start_time": 1}]).latest_repair_id is None
