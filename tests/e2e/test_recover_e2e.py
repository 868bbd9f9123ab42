"""Recovering from failure over real sockets, against the emulator on Hypercorn: repair a failed
run (and watch it go on), retry a repair whose answer was lost, run a run again, cancel all
while triggers race it, list the runs of every job, and watch a queued run wait."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import httpx
import msgspec
import pytest
import stamina

from service.app import create_app
from service.config import check_serving, load_settings
from service.emulator import ManualClock, ScaledClock, Scenario, create_emulator_app
from tests.e2e.servers import SPEED, Stack, fault, running, stack, stats
from tests.factories import sse_events

pytestmark = pytest.mark.looptime(False)
PARAMS = {"params": {"run_date": "2026-11-29"}}
HOUR_MS = 3_600_000


def messages(text: str) -> list[dict[str, Any]]:
    """Each `message` event's id and data."""
    return [
        {"id": e["id"], **json.loads(e["data"])}
        for e in sse_events(text)
        if e.get("event") == "message"
    ]


def seq(event_id: str) -> tuple[str, int]:
    epoch, _, number = event_id.rpartition("-")
    return epoch, int(number)


async def failed_flaky_run(s: Stack) -> tuple[int, str]:
    """A run of the demo's flaky job, followed to its failure: its id and last event's id."""
    stream = await s.api.post("/api/jobs/flaky/run?stream=true", json={})
    events = sse_events(stream.text)
    final = messages(stream.text)[-1]
    assert final["result"] == "FAILED"
    return json.loads(events[0]["data"])["runId"], final["id"]


async def emulated_run(s: Stack, run_id: int) -> dict[str, Any]:
    """The run as the emulator has it, history included."""
    reply = await s.emulator.get(
        "/api/2.2/jobs/runs/get",
        params={"run_id": run_id, "include_history": "true"},
        headers={"Authorization": "Bearer dapi-local-dev"},
    )
    return reply.json()  # type: ignore[no-any-return]


@asynccontextmanager
async def held_stack(*, etl_limit: int) -> AsyncIterator[Stack]:
    """The demo with etl `etl_limit` runs at a time (others queue), on a clock the test moves."""
    demo = Scenario.demo()
    etl = msgspec.structs.replace(demo.jobs["etl"], max_concurrent_runs=etl_limit)
    jobs = {**demo.jobs, "etl": etl}
    emulator_app = create_emulator_app(
        msgspec.structs.replace(demo, jobs=jobs), clock=ManualClock()
    )
    async with running(emulator_app) as emulator_url:
        environ = {"DATABRICKS_HOST": emulator_url, "DATABRICKS_TOKEN": "dapi-local-dev"}
        settings = load_settings(environ, Path(__file__).parents[2] / "config" / "demo.toml")
        fast = {
            "poll_interval_ms": 50,
            "poll_floor_ms": 20,
            "poll_max_ms": 100,
            "heartbeat_ms": 100,
        }
        settings = msgspec.structs.replace(settings, **fast)
        async with (
            running(create_app(settings)) as url,
            httpx.AsyncClient(base_url=url, timeout=20) as api,
            httpx.AsyncClient(base_url=emulator_url) as emulator,
        ):
            yield Stack(api=api, emulator=emulator, settings=settings)


async def test_a_failed_run_is_repaired_and_its_watch_goes_on_from_its_end():
    async with stack() as s:
        run_id, final = await failed_flaky_run(s)
        repaired = await s.api.post(f"/api/jobs/flaky/runs/{run_id}/repair", json={})
        reply = repaired.json()
        resumed = await s.api.get(reply["watchUrl"], headers={"Last-Event-ID": final})
        run = await emulated_run(s, run_id)
    after = messages(resumed.text)
    epoch, last = seq(final)
    assert repaired.status_code == 200
    assert reply["runId"] == run_id
    assert reply["repairId"] == run["repair_history"][-1]["id"]
    assert [seq(e["id"]) for e in after] == [(epoch, last + n) for n in range(1, len(after) + 1)]
    assert after[0]["result"] is None
    assert after[-1]["result"] == "SUCCESS"  # the flaky load succeeds when repaired
    assert [t["attempt_number"] for t in run["tasks"]] == [0, 1, 1]


async def test_a_repair_with_stream_true_streams_the_repaired_run_to_its_end():
    async with stack() as s:
        run_id, final = await failed_flaky_run(s)
        stream = await s.api.post(f"/api/jobs/flaky/runs/{run_id}/repair?stream=true", json={})
    events = sse_events(stream.text)
    after = messages(stream.text)
    assert events[0]["event"] == "repair"
    assert json.loads(events[0]["data"])["runId"] == run_id
    assert seq(after[0]["id"]) > seq(final)
    assert [e["status"] for e in after][-1] == "TERMINATED"
    assert after[-1]["result"] == "SUCCESS"


async def test_named_tasks_and_their_dependants_run_again_with_params_checked_as_a_triggers():
    async with stack() as s:
        run_id, _ = await failed_flaky_run(s)
        url = f"/api/jobs/flaky/runs/{run_id}/repair"
        unknown = await s.api.post(url, json={"tasks": ["nope"]})
        repaired = await s.api.post(url, json={"tasks": ["load"], "rerunDependents": True})
        run = await emulated_run(s, run_id)
    assert (unknown.status_code, unknown.json()["code"]) == (400, "BAD_REQUEST")
    assert repaired.status_code == 200
    rerun = run["repair_history"][-1]["task_run_ids"]
    assert rerun == [t["run_id"] for t in run["tasks"] if t["task_key"] in ("load", "notify")]


async def test_the_same_key_gives_the_same_repair_and_another_body_with_it_is_422():
    async with stack() as s:
        run_id, _ = await failed_flaky_run(s)
        url = f"/api/jobs/flaky/runs/{run_id}/repair"
        key = {"Idempotency-Key": "repair-order-1"}
        first = await s.api.post(url, json={}, headers=key)
        again = await s.api.post(url, json={}, headers=key)
        other = await s.api.post(url, json={"tasks": ["load"]}, headers=key)
        calls = (await stats(s))["calls"]
        run = await emulated_run(s, run_id)
    assert first.json() == again.json()
    assert (other.status_code, other.json()["code"]) == (422, "IDEMPOTENCY_KEY_REUSED")
    assert calls["runs/repair"] == 1
    assert [item["type"] for item in run["repair_history"]] == ["ORIGINAL", "REPAIR"]


async def test_a_repair_retried_after_an_unknown_outcome_makes_exactly_one_repair():
    async with stack() as s:
        run_id, _ = await failed_flaky_run(s)
        # The repair is made, but every answer is lost; the history read after it fails too
        # (the first runs/get, the read before the repair, goes through).
        await fault(s, endpoint="runs/get", latency_ms=1, count=1)
        await fault(s, endpoint="runs/get", status=503, count=3)
        await fault(s, endpoint="runs/repair", status=503, after_effect=True, count=3)
        url = f"/api/jobs/flaky/runs/{run_id}/repair"
        with stamina.set_testing(True, attempts=3, cap=True):  # the three attempts, no backoff
            lost = await s.api.post(url, json={})
        key = lost.headers["Idempotency-Key"]
        retried = await s.api.post(url, json={}, headers={"Idempotency-Key": key})
        again = await s.api.post(url, json={}, headers={"Idempotency-Key": key})
        run = await emulated_run(s, run_id)
    repairs = [item["id"] for item in run["repair_history"] if item["type"] == "REPAIR"]
    assert (lost.status_code, lost.json()["code"]) == (502, "OUTCOME_UNKNOWN")
    assert lost.json()["idempotencyKey"] == key
    assert len(repairs) == 1
    assert retried.json()["repairId"] == again.json()["repairId"] == repairs[0]


async def test_a_repair_whose_answer_was_lost_is_answered_from_the_runs_history_at_once():
    async with stack() as s:
        run_id, _ = await failed_flaky_run(s)
        await fault(s, endpoint="runs/repair", drop=True, after_effect=True, count=3)
        with stamina.set_testing(True, attempts=3, cap=True):
            repaired = await s.api.post(f"/api/jobs/flaky/runs/{run_id}/repair", json={})
        run = await emulated_run(s, run_id)
    repairs = [item["id"] for item in run["repair_history"] if item["type"] == "REPAIR"]
    assert repaired.status_code == 200
    assert [repaired.json()["repairId"]] == repairs


async def test_a_run_still_going_or_with_nothing_failed_is_409_and_another_jobs_run_404():
    async with held_stack(etl_limit=5) as s:
        started = (await s.api.post("/api/jobs/etl/run", json=PARAMS)).json()["runId"]
        early = await s.api.post(f"/api/jobs/etl/runs/{started}/repair", json={})
        await s.emulator.post("/emulator/clock/advance", json={"ms": HOUR_MS})
        await s.api.get(f"/api/jobs/etl/runs/{started}/events")  # until it ends (SUCCESS)
        nothing = await s.api.post(f"/api/jobs/etl/runs/{started}/repair", json={})
        elsewhere = await s.api.post(f"/api/jobs/flaky/runs/{started}/repair", json={})
        calls = (await stats(s))["calls"]
    assert (early.status_code, early.json()["code"]) == (409, "RUN_NOT_FINISHED")
    assert (nothing.status_code, nothing.json()["code"]) == (409, "NOTHING_TO_REPAIR")
    assert (elsewhere.status_code, elsewhere.json()["code"]) == (404, "RUN_NOT_FOUND")
    assert "runs/repair" not in calls


async def test_a_rerun_starts_a_new_run_with_exactly_the_old_runs_parameters():
    params = {"params": {"run_date": "2026-11-29", "env": "prod", "dry_run": True}}
    async with stack() as s:
        old = (await s.api.post("/api/jobs/etl/run", json=params)).json()["runId"]
        again = await s.api.post(f"/api/jobs/etl/runs/{old}/rerun")
        streamed = await s.api.post(f"/api/jobs/etl/runs/{old}/rerun?stream=true")
        bodies = (await stats(s))["run_now_bodies"]
    new = again.json()["runId"]
    assert again.json()["watchUrl"] == f"/api/jobs/etl/runs/{new}/events"
    assert new != old
    assert bodies[1]["job_parameters"] == bodies[0]["job_parameters"]
    assert bodies[2]["job_parameters"] == bodies[0]["job_parameters"]
    assert messages(streamed.text)[-1]["result"] == "SUCCESS"


async def test_a_cancel_all_racing_triggers_leaves_every_read_as_databricks_has_it():
    async with held_stack(etl_limit=50) as s:  # runs move only when the test moves the clock
        earlier = [
            (await s.api.post("/api/jobs/etl/run", json=PARAMS)).json()["runId"] for _ in range(3)
        ]
        await s.api.get("/api/jobs/etl/runs")  # the listing is cached now, every run PENDING
        racing = [s.api.post("/api/jobs/etl/run", json=PARAMS) for _ in range(5)]
        answers = await asyncio.gather(s.api.delete("/api/jobs/etl/runs"), *racing)
        listed = {r["run_id"]: r for r in (await s.api.get("/api/jobs/etl/runs")).json()["runs"]}
        truth = {run_id: (await emulated_run(s, run_id))["state"] for run_id in listed}
        await s.emulator.post("/emulator/clock/advance", json={"ms": HOUR_MS})
        racers = [a.json()["runId"] for a in answers[1:]]
        ended = [messages((await s.api.get(f"/api/jobs/etl/runs/{r}/events")).text) for r in racers]
        final = [(await emulated_run(s, r))["state"]["result_state"] for r in racers]
    assert answers[0].status_code == 204
    assert all(a.status_code == 200 for a in answers[1:])
    assert set(listed) == set(earlier) | set(racers)
    # Fresh after the cancel-all: every run as Databricks has it, none as the cache had it.
    assert {run_id: run["state"] for run_id, run in listed.items()} == truth
    assert [listed[run_id]["result"] for run_id in earlier] == ["CANCELED"] * 3
    # Each racing trigger's run was cancelled or not, and its watch ends as Databricks says.
    assert [events[-1]["result"] for events in ended] == final
    assert set(final) <= {"CANCELED", "SUCCESS"}


async def test_the_runs_of_every_job_come_newest_first_and_active_ones_alone_on_asking():
    async with held_stack(etl_limit=5) as s:
        etl = (await s.api.post("/api/jobs/etl/run", json=PARAMS)).json()["runId"]
        await s.emulator.post("/emulator/clock/advance", json={"ms": HOUR_MS})
        flaky = (await s.api.post("/api/jobs/flaky/run", json={})).json()["runId"]
        await s.emulator.post("/emulator/clock/advance", json={"ms": HOUR_MS})
        going = (await s.api.post("/api/jobs/etl/run", json=PARAMS)).json()["runId"]
        every = (await s.api.get("/api/runs?limit=10")).json()["runs"]
        active = (await s.api.get("/api/runs?active=true")).json()["runs"]
        two = (await s.api.get("/api/runs?limit=2")).json()["runs"]
    assert [(r["jobKey"], r["run_id"], r["result"]) for r in every] == [
        ("etl", going, None),
        ("flaky", flaky, "FAILED"),
        ("etl", etl, "SUCCESS"),
    ]
    assert [r["run_id"] for r in active] == [going]
    assert [r["run_id"] for r in two] == [going, flaky]


# --- queued runs ----------------------------------------------------------------------------------


async def test_a_queued_runs_watch_stays_open_says_why_it_waits_and_follows_it_out():
    async with held_stack(etl_limit=1) as s:
        await s.api.post("/api/jobs/etl/run", json=PARAMS)
        waiting = (await s.api.post("/api/jobs/etl/run", json=PARAMS)).json()["runId"]
        status = (await s.api.get("/api/jobs/etl/status")).json()
        lines: list[str] = []
        async with s.api.stream("GET", f"/api/jobs/etl/runs/{waiting}/events") as stream:
            async for line in stream.aiter_lines():
                lines.append(line)
                if lines.count(": heartbeat") == 3:  # still open, with nothing new to say
                    await s.emulator.post("/emulator/clock/advance", json={"ms": HOUR_MS})
        listed = (await s.api.get("/api/runs?active=true")).json()["runs"]
    events = messages("\n".join(lines))
    assert status["status"] == "QUEUED"
    assert status["queue"] == {
        "code": "MAX_CONCURRENT_RUNS_REACHED",
        "reason": "Queued due to reaching maximum concurrent runs of 1.",
    }
    assert events[0]["status"] == "QUEUED"
    assert events[0]["queue"] == status["queue"]
    assert events[-1]["status"] == "TERMINATED"
    assert "queue" not in events[-1]
    assert listed == []


# --- every access mode ----------------------------------------------------------------------------

CALLERS = {"token": {"Authorization": "Bearer ops-secret-0123456789"}, "open": {}}
CALLERS["apps"] = {"X-Forwarded-Email": "ops@example.com"}


@asynccontextmanager
async def door(tmp_path: Path, mode: str) -> AsyncIterator[Stack]:
    emulated = msgspec.structs.replace(Scenario.demo(), speed=SPEED)
    emulator_app = create_emulator_app(emulated, clock=ScaledClock(speed=SPEED))
    async with running(emulator_app) as emulator_url:
        environ = {
            "DATABRICKS_HOST": emulator_url,
            "DATABRICKS_TOKEN": "dapi-local-dev",
            "HOST": "127.0.0.1",
            "ACCESS_MODE": mode,
            "SIDECAR_API_KEYS": "ops:ops-secret-0123456789",
        }
        settings = load_settings(environ, Path(__file__).parents[2] / "config" / "demo.toml")
        settings = msgspec.structs.replace(
            settings, access=msgspec.structs.replace(settings.access, mode=mode)
        )
        check_serving(settings)
        fast = {"poll_interval_ms": 50, "poll_floor_ms": 20, "poll_max_ms": 100}
        async with (
            running(create_app(msgspec.structs.replace(settings, **fast))) as url,
            httpx.AsyncClient(base_url=url, timeout=20, headers=CALLERS[mode]) as api,
            httpx.AsyncClient(base_url=emulator_url) as emulator,
        ):
            yield Stack(api=api, emulator=emulator, settings=settings)


@pytest.mark.parametrize("mode", ["open", "token", "apps"])
async def test_every_recovery_route_works_in_each_access_mode_and_needs_its_caller(tmp_path, mode):
    async with door(tmp_path, mode) as s:
        run_id, _ = await failed_flaky_run(s)
        answers = {
            "repair": await s.api.post(f"/api/jobs/flaky/runs/{run_id}/repair", json={}),
            "rerun": await s.api.post(f"/api/jobs/flaky/runs/{run_id}/rerun"),
            "cancel all": await s.api.delete("/api/jobs/flaky/runs"),
            "all runs": await s.api.get("/api/runs"),
        }
        # The same request with the mode's credentials blanked: no caller.
        blank = dict.fromkeys(CALLERS[mode], "")
        nobody = await s.api.post(f"/api/jobs/flaky/runs/{run_id}/repair", json={}, headers=blank)
    assert {name: a.status_code for name, a in answers.items()} == {
        "repair": 200,
        "rerun": 200,
        "cancel all": 204,
        "all runs": 200,
    }
    assert [r["jobKey"] for r in answers["all runs"].json()["runs"]] == ["flaky", "flaky"]
    if mode != "open":  # open mode: everyone is `anonymous`
        assert (nobody.status_code, nobody.json()["code"]) == (401, "UNAUTHENTICATED")
