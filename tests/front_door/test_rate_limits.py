"""Rate limits: reads per caller, triggers per caller and job (only those that could reach
Databricks), 429 with its headers, nothing sent.

The `limits` library counts in wall-clock windows; every window here is an hour long, so no
test can cross one (and loop time, fast-forwarded by looptime, does not move them).
"""

from __future__ import annotations

from contextlib import asynccontextmanager

import httpx
import pytest

from service.basics.errors import ConfigError
from service.front_door.rate_limits import MEMORY, open_storage
from service.settings.config import load_settings
from service.settings.toml_file import LimitsTable
from tests.factories import HOST, TOKEN, make_client, make_run, make_settings

KEYS = {"alice": "a" * 24, "bob": "b" * 24}
JOBS = "[jobs.etl]\njob_id = 101\n[jobs.report]\njob_id = 102\n"


def as_caller(name: str) -> dict[str, str]:
    return {"authorization": f"Bearer {KEYS[name]}"}


def token_settings(tmp_path, toml: str = "", **overrides):
    """Token mode with two callers, alice and bob, and the given `[limits]`."""
    environ = {
        "DATABRICKS_HOST": HOST,
        "DATABRICKS_TOKEN": TOKEN,
        "ACCESS_MODE": "token",
        "SIDECAR_API_KEYS": ",".join(f"{name}:{key}" for name, key in KEYS.items()),
    }
    return make_settings(JOBS + toml, environ=environ, tmp_path=tmp_path, **overrides)


@asynccontextmanager
async def serving(tmp_path, upstream, toml: str = ""):
    async with make_client(token_settings(tmp_path, toml), upstream) as client:
        yield client


def run_now(upstream):
    return upstream.post("/run-now").respond(json={"run_id": 7, "number_in_job": 7})


async def trigger(client, caller: str = "alice", job: str = "etl", **kwargs):
    return await client.post(f"/api/jobs/{job}/run", headers=as_caller(caller), **kwargs)


def assert_rate_limited(response, *, limit: int) -> None:
    assert response.status_code == 429
    assert response.json()["code"] == "RATE_LIMITED"
    assert response.json()["plugin"] == "jobs"
    assert response.headers["ratelimit-limit"] == str(limit)
    assert response.headers["ratelimit-remaining"] == "0"
    reset = int(response.headers["ratelimit-reset"])
    assert 0 < reset <= 3600
    assert response.headers["retry-after"] == str(reset)


async def test_a_trigger_over_the_rate_is_429_with_its_headers_and_never_reaches_databricks(
    tmp_path, upstream
):
    route = run_now(upstream)
    async with serving(tmp_path, upstream, '[limits]\ntrigger = "2/hour"\n') as client:
        allowed = [await trigger(client) for _ in range(2)]
        refused = await trigger(client)
    assert [r.status_code for r in allowed] == [200, 200]
    assert_rate_limited(refused, limit=2)
    assert "2 per hour" in refused.json()["error"]
    assert route.call_count == 2


async def test_the_trigger_rate_is_per_caller_and_per_job(tmp_path, upstream):
    run_now(upstream)
    async with serving(tmp_path, upstream, '[limits]\ntrigger = "1/hour"\n') as client:
        assert (await trigger(client, "alice", "etl")).status_code == 200
        assert (await trigger(client, "alice", "etl")).status_code == 429
        other_caller = await trigger(client, "bob", "etl")
        other_job = await trigger(client, "alice", "report")
    assert other_caller.status_code == 200
    assert other_job.status_code == 200


async def test_a_jobs_own_trigger_rate_overrides_the_limits_table(tmp_path, upstream):
    route = run_now(upstream)
    toml = '[limits]\ntrigger = "3/hour"\n[jobs.etl.limits]\ntrigger = "1/hour"\n'
    async with serving(tmp_path, upstream, toml) as client:
        etl = [(await trigger(client, job="etl")).status_code for _ in range(2)]
        report = [(await trigger(client, job="report")).status_code for _ in range(4)]
    assert etl == [200, 429]
    assert report == [200, 200, 200, 429]
    assert route.call_count == 4


async def test_every_job_route_request_counts_against_the_read_rate(tmp_path, upstream):
    upstream.get("/runs/get").respond(json=make_run(5))
    run_now(upstream)
    async with serving(tmp_path, upstream, '[limits]\nread = "3/hour"\n') as client:
        first = await client.get("/api/jobs/etl/runs/5", headers=as_caller("alice"))
        await trigger(client, job="report")
        await client.get("/api/jobs/etl/runs/5", headers=as_caller("alice"))
        refused = await client.get("/api/jobs/report/status", headers=as_caller("alice"))
        other_caller = await client.get("/api/jobs/etl/runs/5", headers=as_caller("bob"))
    assert "ratelimit-limit" not in first.headers  # a read says nothing until it is refused
    assert_rate_limited(refused, limit=3)
    assert other_caller.status_code == 200


async def test_an_allowed_trigger_shows_its_tightest_window(tmp_path, upstream):
    run_now(upstream)
    toml = '[limits]\nread = "100/hour"\ntrigger = "5/hour"\n'
    async with serving(tmp_path, upstream, toml) as client:
        response = await trigger(client)
    assert response.status_code == 200
    assert response.headers["ratelimit-limit"] == "5"
    assert response.headers["ratelimit-remaining"] == "4"
    assert 0 < int(response.headers["ratelimit-reset"]) <= 3600


async def test_an_unknown_job_is_404_before_any_limit(tmp_path, upstream):
    async with serving(tmp_path, upstream, '[limits]\nread = "1/hour"\n') as client:
        unknown = [await client.get("/api/jobs/nope/status", headers=as_caller("alice"))] * 2
    assert {r.status_code for r in unknown} == {404}


async def test_a_limited_trigger_is_429_before_its_body_is_read(tmp_path, upstream):
    route = run_now(upstream)
    async with serving(tmp_path, upstream, '[limits]\ntrigger = "1/hour"\n') as client:
        await trigger(client)
        malformed = await trigger(client, content=b"{not json")
    assert malformed.status_code == 429
    assert route.call_count == 1


@pytest.mark.parametrize(
    "body",
    [b"{not json", b'{"params": 5}', b'{"run_date": "2026-11-29"}'],
    ids=["malformed", "params-not-an-object", "params-unwrapped"],
)
async def test_eleven_400s_do_not_lock_the_caller_out_of_triggering(tmp_path, upstream, body):
    route = run_now(upstream)
    async with serving(tmp_path, upstream, '[limits]\ntrigger = "10/hour"\n') as client:
        refused = [await trigger(client, content=body) for _ in range(11)]
        started = await trigger(client, json={})
    assert {r.status_code for r in refused} == {400}
    assert started.status_code == 200
    assert started.headers["ratelimit-remaining"] == "9"  # the one trigger that reached it
    assert route.call_count == 1


async def test_a_400_trigger_counts_against_the_read_rate(tmp_path, upstream):
    run_now(upstream)
    async with serving(tmp_path, upstream, '[limits]\nread = "3/hour"\n') as client:
        refused = [await trigger(client, content=b"{not json") for _ in range(3)]
        over = await trigger(client, json={})
    assert {r.status_code for r in refused} == {400}
    assert_rate_limited(over, limit=3)
    assert "requests" in over.json()["error"]


async def test_a_replayed_idempotency_key_does_not_count_as_a_trigger(tmp_path, upstream):
    route = run_now(upstream)
    key = {**as_caller("alice"), "Idempotency-Key": "order-17"}
    async with serving(tmp_path, upstream, '[limits]\ntrigger = "2/hour"\n') as client:
        first = await client.post("/api/jobs/etl/run", headers=key, json={})
        replayed = await client.post("/api/jobs/etl/run", headers=key, json={})
        second = await trigger(client, json={})
        third = await trigger(client, json={})
    assert [first.status_code, replayed.status_code, second.status_code] == [200, 200, 200]
    assert replayed.json() == first.json()  # the remembered run: nothing sent
    assert_rate_limited(third, limit=2)
    assert route.call_count == 2


async def test_metrics_count_refusals_by_limit(tmp_path, upstream):
    run_now(upstream)
    toml = '[limits]\ntrigger = "1/hour"\nread = "3/hour"\n'
    async with serving(tmp_path, upstream, toml) as client:
        for _ in range(2):
            await trigger(client)  # the second: trigger limit
        for _ in range(2):
            await client.get("/api/jobs/etl/status", headers=as_caller("alice"))  # 3rd, 4th read
        metrics = (await client.get("/metrics")).text
    assert 'sidecar_rate_limited_total{limit="trigger"} 1.0' in metrics
    assert 'sidecar_rate_limited_total{limit="read"} 1.0' in metrics
    assert 'sidecar_rate_limited_total{limit="streams_per_caller"} 0.0' in metrics


async def test_the_python_api_is_not_rate_limited(tmp_path, upstream):
    """Limits are for HTTP callers; a program in the process triggers as often as it asks."""
    from service.python_api import Jobs  # noqa: PLC0415
    from tests.factories import transport  # noqa: PLC0415

    route = run_now(upstream)
    settings = token_settings(tmp_path, '[limits]\ntrigger = "1/hour"\n')
    async with Jobs.open(settings, transport=transport(upstream)) as jobs:
        results = [await jobs("etl").run_now() for _ in range(3)]
    assert all(result.ok for result in results)
    assert route.call_count == 3


@pytest.mark.parametrize(
    ("toml", "named"),
    [
        ('[limits]\ntrigger = "10/fortnight"\n', "[limits] trigger"),
        ('[limits]\nread = "0/minute"\n', "[limits] read"),
        ('[jobs.etl]\njob_id = 1\n[jobs.etl.limits]\ntrigger = "3 per eon"\n', "[jobs.etl.limits]"),
    ],
)
def test_a_rate_the_library_cannot_read_stops_start_up_naming_the_setting(tmp_path, toml, named):
    path = tmp_path / "jobs.toml"
    path.write_text(toml)
    with pytest.raises(ConfigError, match=r"is not a rate") as refused:
        load_settings({"DATABRICKS_HOST": HOST, "DATABRICKS_TOKEN": TOKEN}, path)
    assert named in str(refused.value)


def test_the_defaults_are_the_issues():
    defaults = LimitsTable(trigger="10/minute", read="600/minute", streams_per_caller=100)
    assert LimitsTable() == defaults


def test_the_storage_is_built_from_a_uri():
    storage = open_storage(MEMORY)
    assert type(storage).__module__ == "limits.aio.storage.memory"


async def test_the_job_listing_counts_against_the_read_rate(tmp_path, upstream):
    async with serving(tmp_path, upstream, '[limits]\nread = "2/hour"\n') as client:
        answers = [await client.get("/api/jobs", headers=as_caller("alice")) for _ in range(3)]
    assert [a.status_code for a in answers[:2]] == [200, 200]
    assert_rate_limited(answers[2], limit=2)


async def test_repairs_and_reruns_count_against_the_trigger_rate_as_runs_do(tmp_path, upstream):
    failed = make_run(5, state="INTERNAL_ERROR", result="FAILED", repair_history=[])
    upstream.get("/runs/get").respond(json=failed)
    repair = upstream.post("/runs/repair").respond(json={"repair_id": 7})
    rerun = run_now(upstream)
    async with serving(tmp_path, upstream, '[limits]\ntrigger = "2/hour"\n') as client:
        repaired = await client.post("/api/jobs/etl/runs/5/repair", headers=as_caller("alice"))
        again = await client.post("/api/jobs/etl/runs/5/rerun", headers=as_caller("alice"))
        over = await client.post("/api/jobs/etl/runs/5/rerun", headers=as_caller("alice"))
    assert [repaired.status_code, again.status_code] == [200, 200]
    assert_rate_limited(over, limit=2)
    assert (repair.call_count, rerun.call_count) == (1, 1)


async def test_a_repair_refused_before_databricks_is_asked_does_not_count(tmp_path, upstream):
    running = make_run(5, state="RUNNING")
    failed = make_run(5, state="INTERNAL_ERROR", result="FAILED", repair_history=[])
    upstream.get("/runs/get").mock(
        side_effect=[httpx.Response(200, json=running)] * 2 + [httpx.Response(200, json=failed)]
    )
    repair = upstream.post("/runs/repair").respond(json={"repair_id": 7})
    async with serving(tmp_path, upstream, '[limits]\ntrigger = "1/hour"\n') as client:
        unfinished = [
            await client.post("/api/jobs/etl/runs/5/repair", headers=as_caller("alice"))
            for _ in range(2)
        ]
        repaired = await client.post("/api/jobs/etl/runs/5/repair", headers=as_caller("alice"))
    assert [r.json()["code"] for r in unfinished] == ["RUN_NOT_FINISHED"] * 2
    assert repaired.status_code == 200
    assert repair.call_count == 1
