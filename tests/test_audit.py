"""The audit line: one per trigger and cancel, whatever the outcome; digests, never values."""

from __future__ import annotations

import json

import httpx
import pytest

from service import audit
from service.jobs import Jobs
from service.logs import configure_logging
from tests.factories import HOST, TOKEN, make_client, make_run, make_settings, transport

SECRET_VALUE = "s3cr3t-param-value"
KEY = "client-key-0001"
ALICE = "a" * 24
TOML = """
[jobs.etl]
job_id = 101
task_type = "notebook"
[jobs.etl.params]
customer = "str"
[jobs.report]
job_id = 102
"""
PARAMS = {"customer": SECRET_VALUE}


@pytest.fixture
def json_logs(capsys):
    configure_logging("debug", json=True)
    yield capsys
    configure_logging("info", json=False)


@pytest.fixture
def settings(tmp_path):
    environ = {
        "DATABRICKS_HOST": HOST,
        "DATABRICKS_TOKEN": TOKEN,
        "ACCESS_MODE": "token",
        "SIDECAR_API_KEYS": f"alice:{ALICE}",
    }
    return make_settings(TOML, environ=environ, tmp_path=tmp_path)


def audit_lines(capsys) -> list[dict]:
    captured = capsys.readouterr()
    text = captured.err + captured.out
    assert SECRET_VALUE not in text  # no line of any logger holds a parameter's value
    assert KEY not in text  # nor the idempotency key
    lines = [json.loads(line) for line in text.splitlines() if line]
    return [line for line in lines if line["event"] == "audit"]


def the_line(capsys) -> dict:
    (line,) = audit_lines(capsys)
    assert line["level"] == "info"
    return line


async def post_run(client, *, job="etl", body=None, key=KEY, request_id="req-a1", **kwargs):
    headers = {"authorization": f"Bearer {ALICE}", "x-request-id": request_id}
    if key is not None:
        headers["idempotency-key"] = key
    payload = {"params": PARAMS} if body is None else body
    return await client.post(f"/api/jobs/{job}/run", json=payload, headers=headers, **kwargs)


def run_now(upstream, run_id=7):
    return upstream.post("/run-now").respond(json={"run_id": run_id, "number_in_job": 1})


async def test_a_started_run_has_one_line_with_every_field(json_logs, settings, upstream):
    run_now(upstream)
    async with make_client(settings, upstream) as client:
        response = await post_run(client)
    assert response.status_code == 200
    assert the_line(json_logs) | {"timestamp": None} == {
        "event": "audit",
        "level": "info",
        "timestamp": None,
        "action": "trigger",
        "via": "http",
        "caller": "alice",
        "job_key": "etl",
        "run_id": 7,
        "outcome": "started",
        "status": 200,
        "code": None,
        "request_id": "req-a1",
        "params_digest": audit.digest(PARAMS),
        "idempotency_key_digest": audit.digest(KEY),
    }


def test_a_digest_is_16_hex_of_the_canonical_json_whatever_the_key_order():
    assert audit.digest({"b": 1, "a": [2, "x"]}) == audit.digest({"a": [2, "x"], "b": 1})
    assert len(audit.digest(PARAMS)) == 16
    assert audit.digest(PARAMS) != audit.digest({"customer": "other"})


async def test_a_run_reused_by_its_key_says_so_and_sends_nothing(json_logs, settings, upstream):
    route = run_now(upstream)
    async with make_client(settings, upstream) as client:
        await post_run(client, request_id="first")
        again = await post_run(client, request_id="again")
    assert again.json() == {"runId": 7}
    assert route.call_count == 1
    first, second = audit_lines(json_logs)
    assert (first["outcome"], first["request_id"]) == ("started", "first")
    assert (second["outcome"], second["run_id"], second["status"]) == ("reused", 7, 200)
    assert second["request_id"] == "again"


async def test_a_streamed_trigger_is_audited_when_it_starts(json_logs, settings, upstream):
    run_now(upstream, 555)
    upstream.get("/runs/get").respond(json=make_run(555, state="TERMINATED", result="SUCCESS"))
    async with make_client(settings, upstream) as client:
        response = await post_run(client, params={"stream": "true"})
    assert response.headers["content-type"].startswith("text/event-stream")
    line = the_line(json_logs)
    assert (line["outcome"], line["run_id"], line["status"]) == ("started", 555, 200)


REFUSALS = {
    "bad parameters": ({"body": {"params": {"customer": 5, "x": SECRET_VALUE}}}, 400),
    "malformed body": ({"content": b"{" + SECRET_VALUE.encode()}, 400),
    "unknown job": ({"job": "nope"}, 404),
}


@pytest.mark.parametrize(("request_kwargs", "status"), REFUSALS.values(), ids=REFUSALS.keys())
async def test_a_refused_trigger_has_one_line_with_its_status(
    json_logs, settings, upstream, request_kwargs, status
):
    route = run_now(upstream)
    async with make_client(settings, upstream) as client:
        if "content" in request_kwargs:
            response = await client.post(
                "/api/jobs/etl/run",
                content=request_kwargs["content"],
                headers={"authorization": f"Bearer {ALICE}"},
            )
        else:
            response = await post_run(client, **request_kwargs)
    assert response.status_code == status
    line = the_line(json_logs)
    assert (line["outcome"], line["status"], line["code"]) == (
        "refused",
        status,
        response.json()["code"],
    )
    assert line["run_id"] is None
    assert not route.called


async def test_a_key_reused_with_other_parameters_is_a_refused_422(json_logs, settings, upstream):
    run_now(upstream)
    async with make_client(settings, upstream) as client:
        await post_run(client)
        other = await post_run(client, body={"params": {"customer": "someone else"}})
    assert other.status_code == 422
    _, line = audit_lines(json_logs)
    assert (line["outcome"], line["status"], line["code"]) == (
        "refused",
        422,
        "IDEMPOTENCY_KEY_REUSED",
    )
    assert line["params_digest"] == audit.digest({"customer": "someone else"})


async def test_a_trigger_over_its_rate_is_a_refused_429(json_logs, settings, upstream):
    import msgspec  # noqa: PLC0415

    from service.settings_file import LimitsTable  # noqa: PLC0415

    limited = msgspec.structs.replace(settings, limits=LimitsTable(trigger="1/hour"))
    run_now(upstream)
    async with make_client(limited, upstream) as client:
        await post_run(client, key="k1")
        refused = await post_run(client, key="k2")
    assert refused.status_code == 429
    _, line = audit_lines(json_logs)
    assert (line["outcome"], line["status"], line["code"]) == ("refused", 429, "RATE_LIMITED")
    assert line["idempotency_key_digest"] == audit.digest("k2")
    assert line["params_digest"] is None  # refused before its body was read


async def test_a_run_now_databricks_refused_is_failed(json_logs, settings, upstream):
    upstream.post("/run-now").respond(
        400, json={"error_code": "INVALID_PARAMETER_VALUE", "message": "no"}
    )
    async with make_client(settings, upstream) as client:
        response = await post_run(client)
    line = the_line(json_logs)
    assert (line["outcome"], line["status"]) == ("failed", response.status_code)
    assert line["code"] == "UPSTREAM_REJECTED"


async def test_a_lost_answer_is_unknown_with_the_handed_out_keys_digest(
    json_logs, settings, upstream
):
    upstream.post("/run-now").mock(side_effect=httpx.ReadTimeout("slow"))
    async with make_client(settings, upstream) as client:
        response = await post_run(client, key=None)
    handed_out = response.json()["idempotencyKey"]
    line = the_line(json_logs)
    assert (line["outcome"], line["status"], line["code"]) == ("unknown", 504, "OUTCOME_UNKNOWN")
    assert line["idempotency_key_digest"] == audit.digest(handed_out)


async def test_a_cancel_has_one_line_with_its_run(json_logs, settings, upstream):
    upstream.get("/runs/get").respond(json=make_run(555))
    upstream.post("/runs/cancel").respond(json={})
    async with make_client(settings, upstream) as client:
        response = await client.delete(
            "/api/jobs/etl/runs/555", headers={"authorization": f"Bearer {ALICE}"}
        )
    assert response.status_code == 204
    line = the_line(json_logs)
    assert line["action"] == "cancel"
    assert (line["outcome"], line["status"], line["run_id"], line["caller"]) == (
        "cancelled",
        204,
        555,
        "alice",
    )
    assert line["params_digest"] is None


async def test_a_cancel_of_another_jobs_run_is_refused_404(json_logs, settings, upstream):
    upstream.get("/runs/get").respond(json=make_run(555, job_id=999))
    cancel = upstream.post("/runs/cancel").respond(json={})
    async with make_client(settings, upstream) as client:
        response = await client.delete(
            "/api/jobs/etl/runs/555", headers={"authorization": f"Bearer {ALICE}"}
        )
    assert response.status_code == 404
    line = the_line(json_logs)
    assert (line["action"], line["outcome"], line["status"], line["run_id"]) == (
        "cancel",
        "refused",
        404,
        555,
    )
    assert not cancel.called


async def test_an_unauthenticated_write_is_one_refused_line_without_a_caller(
    json_logs, settings, upstream
):
    route = run_now(upstream)
    async with make_client(settings, upstream) as client:
        response = await client.post(
            "/api/jobs/etl/run", json={}, headers={"idempotency-key": KEY, "x-request-id": "r1"}
        )
    assert response.status_code == 401
    assert not route.called
    assert the_line(json_logs) | {"timestamp": None} == {
        "event": "audit",
        "level": "info",
        "timestamp": None,
        "action": "trigger",
        "via": "http",
        "caller": None,
        "job_key": "etl",
        "run_id": None,
        "outcome": "refused",
        "status": 401,
        "code": "UNAUTHENTICATED",
        "request_id": "r1",
        "params_digest": None,
        "idempotency_key_digest": audit.digest(KEY),
    }


async def test_an_unauthenticated_cancel_names_its_run(json_logs, settings, upstream):
    async with make_client(settings, upstream) as client:
        response = await client.delete("/api/jobs/etl/runs/555")
    assert response.status_code == 401
    line = the_line(json_logs)
    assert (line["action"], line["run_id"], line["outcome"], line["caller"]) == (
        "cancel",
        555,
        "refused",
        None,
    )


async def test_a_read_refused_before_its_route_has_no_audit_line(json_logs, settings, upstream):
    async with make_client(settings, upstream) as client:
        response = await client.get("/api/jobs/etl/runs/555")
    assert response.status_code == 401
    assert audit_lines(json_logs) == []


async def test_the_python_apis_trigger_and_cancel_are_audited(json_logs, settings, upstream):
    run_now(upstream)
    upstream.get("/runs/get").respond(json=make_run(7))
    upstream.post("/runs/cancel").respond(json={})
    async with Jobs.open(settings, transport=transport(upstream)) as jobs:
        started = await jobs("etl").run_now(PARAMS, idempotency_key=KEY)
        refused = await jobs("etl").run_now({"customer": 5})
        cancelled = await jobs("etl").cancel_run(7)
    assert (started.ok, refused.ok, cancelled.ok) == (True, False, True)
    trigger, bad, cancel = audit_lines(json_logs)
    assert (trigger["via"], trigger["caller"], trigger["outcome"], trigger["run_id"]) == (
        "python",
        "python program",
        "started",
        7,
    )
    assert trigger["idempotency_key_digest"] == audit.digest(KEY)
    assert trigger["request_id"] is None
    assert (bad["outcome"], bad["status"]) == ("refused", 400)
    assert (cancel["action"], cancel["outcome"], cancel["run_id"]) == ("cancel", "cancelled", 7)


async def test_run_and_wait_audits_its_trigger_once(json_logs, settings, upstream):
    run_now(upstream)
    run = make_run(7, job_id=102, state="TERMINATED", result="SUCCESS")
    upstream.get("/runs/get").respond(json=run)
    async with Jobs.open(settings, transport=transport(upstream)) as jobs:
        statuses = [s.status async for s in jobs("report").run_and_wait()]
    assert statuses[-1] == "TERMINATED"
    line = the_line(json_logs)
    assert (line["job_key"], line["outcome"], line["run_id"]) == ("report", "started", 7)


async def test_a_bug_inside_a_write_is_still_one_line(json_logs):
    with (
        pytest.raises(ZeroDivisionError),
        audit.record("trigger", caller="x", job_key="etl", via="python"),
    ):
        _ = 1 / 0
    line = the_line(json_logs)
    assert (line["outcome"], line["status"], line["code"]) == ("error", 500, "INTERNAL")


async def test_a_write_the_caller_may_not_make_is_a_refused_403(json_logs, tmp_path, upstream):
    environ = {
        "DATABRICKS_HOST": HOST,
        "DATABRICKS_TOKEN": TOKEN,
        "ACCESS_MODE": "token",
        "SIDECAR_API_KEYS": f"alice:{ALICE}",
    }
    toml = TOML + '[jobs.report.access]\nrun = ["ops"]\n'
    run_now = upstream.post("/run-now")
    async with make_client(make_settings(toml, environ=environ, tmp_path=tmp_path), upstream) as c:
        response = await c.post(
            "/api/jobs/report/run",
            json={"params": {}},
            headers={"authorization": f"Bearer {ALICE}", "idempotency-key": KEY},
        )
    assert response.status_code == 403
    assert not run_now.called
    line = the_line(json_logs)
    assert (line["action"], line["outcome"], line["status"], line["code"], line["caller"]) == (
        "trigger",
        "refused",
        403,
        "FORBIDDEN",
        "alice",
    )
    assert line["idempotency_key_digest"] == audit.digest(KEY)


async def test_a_cancel_all_a_rerun_and_a_repair_have_one_line_each(json_logs, settings, upstream):
    upstream.post("/runs/cancel-all").respond(json={})
    upstream.get("/runs/get").respond(
        json=make_run(555, state="TERMINATED", result="FAILED", job_parameters=[])
    )
    run_now(upstream, run_id=8)
    upstream.post("/runs/repair").respond(json={"repair_id": 9})
    headers = {"authorization": f"Bearer {ALICE}"}
    async with make_client(settings, upstream) as client:
        cancelled = await client.delete("/api/jobs/etl/runs", headers=headers)
        again = await client.post("/api/jobs/etl/runs/555/rerun", headers=headers)
        repaired = await client.post("/api/jobs/etl/runs/555/repair", headers=headers)
    assert (cancelled.status_code, again.status_code, repaired.status_code) == (204, 200, 200)
    cancel_all, rerun, repair = audit_lines(json_logs)
    assert (cancel_all["action"], cancel_all["outcome"], cancel_all["status"]) == (
        "cancel_all",
        "cancelled",
        204,
    )
    assert (rerun["action"], rerun["outcome"], rerun["run_id"]) == ("rerun", "started", 8)
    assert rerun["params_digest"] == audit.digest({})
    assert (repair["action"], repair["outcome"], repair["run_id"]) == ("repair", "started", 555)
