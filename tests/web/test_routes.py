"""The HTTP contract under /api/jobs, route by route, against a respx workspace."""

from __future__ import annotations

import asyncio
import json

import httpx
import pytest

from tests.factories import (
    APPS_ENV,
    JOB_IDS,
    TOKEN,
    advance,
    make_client,
    make_run,
    make_settings,
    make_task,
    proxied,
    scim_me,
)


async def test_run_returns_run_id_and_sends_job_id(client, upstream):
    route = upstream.post("/run-now").respond(json={"run_id": 7, "number_in_job": 7})
    response = await client.post("/api/jobs/etl/run", json={"params": {}})
    assert response.status_code == 200
    assert response.json() == {"runId": 7}
    body = json.loads(route.calls.last.request.content)
    assert body["job_id"] == JOB_IDS["etl"]
    assert route.calls.last.request.headers["authorization"] == f"Bearer {TOKEN}"


async def test_run_without_body_means_empty_params(client, upstream):
    route = upstream.post("/run-now").respond(json={"run_id": 7})
    response = await client.post("/api/jobs/etl/run")
    assert response.status_code == 200
    assert set(json.loads(route.calls.last.request.content)) == {"job_id", "idempotency_token"}


@pytest.mark.parametrize("params", ["x", [1], None, 3])
async def test_run_with_params_not_an_object_is_400(client, upstream, params):
    route = upstream.post("/run-now")
    response = await client.post("/api/jobs/etl/run", json={"params": params})
    assert response.status_code == 400
    assert response.json()["error"] == "params must be a plain object"
    assert not route.called


async def test_run_with_malformed_json_is_400_json(client, upstream):
    response = await client.post("/api/jobs/etl/run", content=b"{nope")
    assert response.status_code == 400
    assert response.headers["content-type"] == "application/json"
    assert response.json()["error"] == "Request body must be valid JSON"


async def test_unknown_job_is_404_without_upstream_call(client, upstream):
    response = await client.post("/api/jobs/nope<script>/run", json={})
    assert response.status_code == 404
    assert response.json()["error"] == 'Unknown job "nopescript"'
    assert not upstream.calls


async def test_job_without_id_is_404(tmp_path, upstream):
    settings = make_settings('[jobs.orphan]\ntask_type = "notebook"\n', tmp_path=tmp_path)
    async with make_client(settings, upstream) as client:
        response = await client.get("/api/jobs/orphan/status")
    assert response.status_code == 404
    assert response.json()["error"] == 'Job "orphan" has no configured job ID'
    assert not upstream.calls


async def test_runs_list_passes_limit_and_returns_runs(client, upstream):
    runs = [make_run(3), make_run(2)]
    route = upstream.get("/runs/list").respond(json={"runs": runs, "has_more": False})
    response = await client.get("/api/jobs/etl/runs?limit=2")
    assert response.json() == {"runs": [{**run, "result": None} for run in runs]}
    assert route.calls.last.request.url.params["limit"] == "2"
    assert route.calls.last.request.url.params["job_id"] == str(JOB_IDS["etl"])


@pytest.mark.parametrize(("query", "sent"), [("", "20"), ("?limit=1", "1"), ("?limit=100", "25")])
async def test_runs_list_limit_defaults_to_twenty_and_pages_by_twenty_five(
    client, upstream, query, sent
):
    route = upstream.get("/runs/list").respond(json={"has_more": False})
    response = await client.get(f"/api/jobs/etl/runs{query}")
    assert response.json() == {"runs": []}
    assert route.calls.last.request.url.params["limit"] == sent


@pytest.mark.parametrize("raw", ["abc", "-1", "0", "101", "", "1.5", "+5", " 5", "١٢", "9" * 5000])
async def test_runs_list_with_a_limit_outside_one_to_a_hundred_is_400_naming_it(
    client, upstream, raw
):
    response = await client.get("/api/jobs/etl/runs", params={"limit": raw})
    assert response.status_code == 400
    assert response.json() == {
        "error": "limit must be an integer from 1 to 100",
        "code": "BAD_REQUEST",
        "plugin": "jobs",
    }
    assert not upstream.calls


@pytest.mark.parametrize("flag", ["false", "0"])
async def test_run_with_stream_off_returns_the_run_id(client, upstream, flag):
    upstream.post("/run-now").respond(json={"run_id": 7})
    response = await client.post(f"/api/jobs/etl/run?stream={flag}", json={})
    assert response.json() == {"runId": 7}


@pytest.mark.parametrize("flag", ["true", "1"])
async def test_run_with_stream_on_streams_the_run(client, upstream, flag):
    upstream.post("/run-now").respond(json={"run_id": 555})
    upstream.get("/runs/get").respond(json=make_run(555, state="TERMINATED", result="SUCCESS"))
    response = await client.post(f"/api/jobs/etl/run?stream={flag}", json={})
    assert response.headers["content-type"].startswith("text/event-stream")
    assert '"status":"TERMINATED"' in response.text


@pytest.mark.parametrize("flag", ["yes", "", "TRUE", "2", "true "])
async def test_run_with_another_stream_value_is_400_and_starts_nothing(client, upstream, flag):
    run_now = upstream.post("/run-now").respond(json={"run_id": 7})
    response = await client.post("/api/jobs/etl/run", params={"stream": flag}, json={})
    assert response.status_code == 400
    assert response.json()["error"] == "stream must be true or false (or 1 or 0)"
    assert not run_now.called


async def test_get_run_returns_every_upstream_field(client, upstream):
    run = make_run(555, some_new_field={"nested": [1, 2]}, tasks=[make_task("a", 9)])
    upstream.get("/runs/get", params={"run_id": "555"}).respond(json=run)
    response = await client.get("/api/jobs/etl/runs/555")
    assert response.status_code == 200
    assert response.json() == run


async def test_get_run_with_history_reads_it_fresh_from_databricks(client, upstream):
    history = [{"type": "ORIGINAL", "start_time": 1}, {"type": "REPAIR", "id": 42}]
    with_history = upstream.get(
        "/runs/get", params={"run_id": "555", "include_history": "true"}
    ).respond(json=make_run(555, repair_history=history))
    plain = upstream.get("/runs/get", params={"run_id": "555"}).respond(json=make_run(555))
    await client.get("/api/jobs/etl/runs/555")  # cached: the history is not in it
    first = await client.get("/api/jobs/etl/runs/555", params={"include_history": "true"})
    again = await client.get("/api/jobs/etl/runs/555", params={"include_history": "true"})
    assert first.json()["repair_history"] == again.json()["repair_history"] == history
    assert (plain.call_count, with_history.call_count) == (1, 2)


async def test_get_run_with_history_of_another_jobs_run_is_404(client, upstream):
    other = make_run(555, job_id=JOB_IDS["other"], repair_history=[])
    upstream.get("/runs/get", params={"run_id": "555", "include_history": "true"}).respond(
        json=other
    )
    response = await client.get("/api/jobs/etl/runs/555?include_history=true")
    assert (response.status_code, response.json()["code"]) == (404, "RUN_NOT_FOUND")


async def test_get_run_of_other_job_is_404_like_a_missing_run(client, upstream):
    upstream.get("/runs/get", params={"run_id": "555"}).respond(
        json=make_run(555, job_id=JOB_IDS["other"])
    )
    upstream.get("/runs/get", params={"run_id": "556"}).respond(
        400, json={"error_code": "INVALID_PARAMETER_VALUE", "message": "Run 556 does not exist."}
    )
    other = await client.get("/api/jobs/etl/runs/555")
    missing = await client.get("/api/jobs/etl/runs/556")
    assert other.status_code == missing.status_code == 404
    assert other.json()["code"] == missing.json()["code"]
    assert "does not exist" not in missing.text


@pytest.mark.parametrize("run_id", ["123abc", "1.5", "0", "-3", "99999999999999999999", "١٢"])
async def test_invalid_run_id_is_400(client, upstream, run_id):
    response = await client.get(f"/api/jobs/etl/runs/{run_id}")
    assert response.status_code == 400
    assert response.json()["error"] == "Invalid runId: expected a positive integer"
    assert not upstream.calls


async def test_cancel_is_204_and_cancels_upstream(client, upstream):
    upstream.get("/runs/get").respond(json=make_run(555))
    cancel = upstream.post("/runs/cancel").respond(json={})
    response = await client.delete("/api/jobs/etl/runs/555")
    assert response.status_code == 204
    assert json.loads(cancel.calls.last.request.content) == {"run_id": 555}


async def test_cancel_of_other_job_run_is_404_and_cancels_nothing(client, upstream):
    upstream.get("/runs/get").respond(json=make_run(555, job_id=JOB_IDS["other"]))
    cancel = upstream.post("/runs/cancel").respond(json={})
    response = await client.delete("/api/jobs/etl/runs/555")
    assert response.status_code == 404
    assert not cancel.called


async def test_status_is_latest_run(client, upstream):
    run = make_run(9, state="PENDING")
    route = upstream.get("/runs/list").respond(json={"runs": [run], "has_more": True})
    response = await client.get("/api/jobs/etl/status")
    assert response.json() == {"status": "PENDING", "result": None, "run": run}
    assert route.calls.last.request.url.params["limit"] == "1"


async def test_status_of_a_finished_run_has_its_result_on_top(client, upstream):
    run = make_run(9, state="TERMINATED", result="FAILED")
    upstream.get("/runs/list").respond(json={"runs": [run], "has_more": False})
    response = await client.get("/api/jobs/etl/status")
    assert response.json() == {"status": "TERMINATED", "result": "FAILED", "run": run}


async def test_each_listed_run_has_its_result_on_top(client, upstream):
    runs = [make_run(3, state="RUNNING"), make_run(2, state="TERMINATED", result="CANCELED")]
    upstream.get("/runs/list").respond(json={"runs": runs, "has_more": False})
    response = await client.get("/api/jobs/etl/runs")
    assert [(r["run_id"], r["result"]) for r in response.json()["runs"]] == [
        (3, None),
        (2, "CANCELED"),
    ]


async def test_runs_with_expand_tasks_have_their_tasks_and_a_cache_entry_of_their_own(
    client, upstream
):
    expanded = make_run(3, state="TERMINATED", result="FAILED", tasks=[make_task("a", 9)])
    with_tasks = upstream.get("/runs/list", params={"expand_tasks": "true"}).respond(
        json={"runs": [expanded], "has_more": False}
    )
    plain = upstream.get("/runs/list").respond(json={"runs": [make_run(3)], "has_more": False})
    bare = await client.get("/api/jobs/etl/runs")
    full = await client.get("/api/jobs/etl/runs", params={"expand_tasks": "true"})
    assert "tasks" not in bare.json()["runs"][0]
    assert full.json()["runs"][0]["tasks"] == [make_task("a", 9)]
    assert (plain.call_count, with_tasks.call_count) == (1, 1)
    assert "expand_tasks" not in plain.calls.last.request.url.params


async def test_status_without_runs_is_null(client, upstream):
    upstream.get("/runs/list").respond(json={"has_more": False})
    response = await client.get("/api/jobs/etl/status")
    assert response.json() == {"status": None, "result": None, "run": None}


async def test_get_job_returns_upstream_job(client, upstream):
    job = {"job_id": JOB_IDS["etl"], "settings": {"name": "etl"}}
    upstream.get("/get", params={"job_id": str(JOB_IDS["etl"])}).respond(json=job)
    response = await client.get("/api/jobs/etl")
    assert response.json() == job


async def test_jobs_index_lists_keys_task_types_and_schemas(tmp_path, upstream):
    settings = make_settings(
        '[jobs.etl]\njob_id = 1\ntask_type = "notebook"\n[jobs.etl.params]\nstartDate = "date"\n',
        tmp_path=tmp_path,
    )
    async with make_client(settings, upstream) as client:
        response = await client.get("/api/jobs")
    (job,) = response.json()["jobs"]
    assert job["key"] == "etl"
    assert job["taskType"] == "notebook"
    assert "startDate" in json.dumps(job["params"])


@pytest.mark.parametrize(
    ("status", "body", "headers", "expected", "retry_after"),
    [
        (401, {"error_code": 401, "message": "Credential was not sent"}, {}, 502, None),
        (403, {"error_code": "PERMISSION_DENIED", "message": "User x has no"}, {}, 502, None),
        (
            429,
            {"error_code": "REQUEST_LIMIT_EXCEEDED", "message": "slow"},
            {"Retry-After": "7"},
            503,
            "7",
        ),
        (500, {"error_code": "INTERNAL_ERROR", "message": "secret internals"}, {}, 502, None),
        (400, {"error_code": "INVALID_PARAMETER_VALUE", "message": "bad"}, {}, 400, None),
    ],
)
async def test_upstream_errors_map_without_leaking(
    client, upstream, status, body, headers, expected, retry_after
):
    upstream.get("/runs/list").respond(status, json=body, headers=headers)
    response = await client.get("/api/jobs/etl/status")
    assert response.status_code == expected
    assert response.headers["content-type"] == "application/json"
    assert response.headers.get("retry-after") == retry_after
    assert body["message"] not in response.text
    assert TOKEN not in response.text


async def test_transport_error_is_502(client, upstream):
    upstream.get("/runs/list").mock(side_effect=httpx.ConnectError("boom"))
    response = await client.get("/api/jobs/etl/status")
    assert response.status_code == 502
    assert response.json()["code"] == "UPSTREAM_UNAVAILABLE"


async def test_unknown_route_is_json_404(client):
    response = await client.get("/nope")
    assert response.status_code == 404
    assert response.json()["error"] == "Not Found"


async def test_wrong_method_is_json_405(client):
    response = await client.put("/api/jobs/etl/run")
    assert response.status_code == 405
    assert response.headers["content-type"] == "application/json"


async def test_a_405_allows_every_method_of_the_path_not_only_the_first_routes(client):
    response = await client.request("OPTIONS", "/api/jobs/etl/runs/1")
    assert response.status_code == 405
    assert response.headers["allow"] == "GET, HEAD, DELETE"
    assert response.json()["code"] == "HTTP_405"


@pytest.mark.parametrize("path", ["/livez", "/readyz", "/health"])
async def test_probes_answer_without_calling_databricks(client, upstream, path):
    response = await client.get(path)
    assert response.status_code == 200
    assert not upstream.calls


async def test_response_carries_request_id(client, upstream):
    upstream.get("/runs/list").respond(json={})
    response = await client.get("/api/jobs/etl/status", headers={"x-request-id": "abc-1"})
    assert response.headers["x-request-id"] == "abc-1"


class TestRunAsUser:
    @pytest.fixture
    def settings(self, tmp_path):
        toml = '[jobs.etl]\njob_id = 101\nrun_as = "user"\n'
        return make_settings(toml, environ=APPS_ENV, tmp_path=tmp_path)

    @pytest.fixture(autouse=True)
    def users(self, upstream):
        return scim_me(upstream, {"user-tok": "u@x.com", "alice": "alice@x.com", "bob": "b@x.com"})

    async def test_user_job_without_forwarded_token_is_401(self, client, upstream):
        response = await client.get("/api/jobs/etl/status", headers=proxied("u@x.com"))
        assert response.status_code == 401
        assert "X-Forwarded-Access-Token" in response.json()["error"]
        assert not upstream.calls

    @pytest.mark.parametrize(
        ("method", "path"),
        [
            ("GET", "/api/jobs/etl/runs/abc"),
            ("DELETE", "/api/jobs/etl/runs/abc"),
            ("GET", "/api/jobs/etl/runs/abc/events"),
            ("GET", "/api/jobs/etl/runs/abc/output"),
        ],
    )
    async def test_a_malformed_run_id_is_400_before_the_user_is_looked_up(
        self, client, upstream, method, path
    ):
        headers = proxied("alice@x.com", "alice")
        response = await client.request(method, path, headers=headers)
        assert response.status_code == 400
        assert response.json()["error"] == "Invalid runId: expected a positive integer"
        assert not upstream.calls  # not even SCIM `Me` for who alice is

    async def test_user_job_acts_with_the_forwarded_token(self, client, upstream):
        route = upstream.get("/runs/list").respond(json={})
        await client.get("/api/jobs/etl/status", headers=proxied("u@x.com", "user-tok"))
        assert route.calls.last.request.headers["authorization"] == "Bearer user-tok"

    async def test_users_never_share_cached_reads(self, client, upstream):
        route = upstream.get("/runs/list").respond(json={"runs": [make_run(1)]})
        for token in ("alice", "bob", "alice"):
            await client.get("/api/jobs/etl/status", headers=proxied(f"{token}@x.com", token))
        tokens = [c.request.headers["authorization"] for c in route.calls]
        assert tokens == ["Bearer alice", "Bearer bob"]


async def test_concurrent_identical_reads_share_one_upstream_call(client, upstream):

    async def slow(request):
        await advance(0.5)
        return httpx.Response(200, json={"runs": [make_run(1)]})

    route = upstream.get("/runs/list").mock(side_effect=slow)
    responses = await asyncio.gather(*(client.get("/api/jobs/etl/status") for _ in range(50)))
    assert {r.status_code for r in responses} == {200}
    assert route.call_count == 1


async def test_reads_of_a_deleted_job_are_404(client, upstream):
    upstream.get("/get").respond(
        400, json={"error_code": "INVALID_PARAMETER_VALUE", "message": "Job 101 does not exist."}
    )
    assert (await client.get("/api/jobs/etl")).status_code == 404


JOBS = """
[jobs.models]
job_id = 1
task_type = "dbt"
[jobs.loose]
job_id = 2
task_type = "notebook"
[jobs.raw]
job_id = 3
"""


async def test_a_dbt_job_has_a_schema_that_admits_only_an_empty_object(tmp_path, upstream):
    async with make_client(make_settings(JOBS, tmp_path=tmp_path), upstream) as client:
        jobs = {j["key"]: j for j in (await client.get("/api/jobs")).json()["jobs"]}
    assert jobs["models"]["params"] == {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "type": "object",
        "properties": {},
        "additionalProperties": False,
    }


async def test_a_job_without_a_schema_has_params_null(tmp_path, upstream):
    async with make_client(make_settings(JOBS, tmp_path=tmp_path), upstream) as client:
        jobs = {j["key"]: j for j in (await client.get("/api/jobs")).json()["jobs"]}
    assert jobs["loose"]["params"] is None
    assert jobs["raw"]["params"] is None
