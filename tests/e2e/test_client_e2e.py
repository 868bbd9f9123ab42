"""`service.client` over real sockets against the service and the emulator: runs followed to
their end, a stream cut mid-run resumed with each change once, unknown outcomes retried to
exactly one run, and an API key in token mode."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
import stamina

from service.client import AsyncClient, Client, RunFailed, RunUpdate, Unauthenticated
from tests.e2e.clients import SECRET, emulator_runs, token_mode_service, url_of
from tests.e2e.proxy import Proxy
from tests.e2e.servers import SPEED, fault, stack, stats

pytestmark = pytest.mark.looptime(False)
ETL = {"run_date": "2026-11-29"}
# flaky takes any parameters: these make each of its three tasks run 2 s (at the stack's speed)
# and succeed, so that a run has time to change while its stream is cut.
SLOW = {"emulator_outcome": "SUCCESS", "emulator_duration_ms": str(int(2000 * SPEED))}


async def test_run_and_wait_returns_the_final_status_of_a_succeeded_run():
    async with stack() as s:

        def run() -> Any:
            with Client(url_of(s)) as jobs:
                return jobs.run_and_wait("etl", ETL)

        final = await asyncio.to_thread(run)
        latest = (await s.api.get("/api/jobs/etl/status")).json()
    assert (final.status, final.result) == ("TERMINATED", "SUCCESS")
    assert final.run["run_id"] == latest["run"]["run_id"]


async def test_run_and_wait_raises_run_failed_for_a_failed_run():
    async with stack() as s:

        def run() -> Any:
            with Client(url_of(s)) as jobs:
                return jobs.run_and_wait("flaky")

        with pytest.raises(RunFailed) as raised:
            await asyncio.to_thread(run)
        [run_id] = await emulator_runs(s, "flaky")
    assert (raised.value.run_id, raised.value.result) == (run_id, "FAILED")
    assert raised.value.run["state"]["life_cycle_state"] == "INTERNAL_ERROR"


async def collect(updates: Any, seen: list[RunUpdate], proxy: Proxy | None = None) -> None:
    """Every update; with `proxy`, cut its connections after the 1st and the 4th, and stay
    away longer than a task runs, so that the run changes more than once while the stream is
    down (its tasks end and start 2 s apart, each boundary a few changes)."""
    async for update in updates:
        seen.append(update)
        if proxy is not None and len(seen) in {1, 4}:
            assert proxy.cut() >= 1
            await asyncio.sleep(2.5)


async def test_a_stream_cut_mid_run_resumes_with_every_change_exactly_once():
    async with (
        stack() as s,
        Proxy(url_of(s)).running() as proxy,
        AsyncClient(url_of(s)) as direct,
        AsyncClient(proxy.url) as cut,
    ):
        run_id = (await direct.trigger("flaky", SLOW)).run_id
        straight: list[RunUpdate] = []
        resumed: list[RunUpdate] = []
        async with asyncio.TaskGroup() as tasks:
            tasks.create_task(collect(direct.watch("flaky", run_id), straight))
            await asyncio.sleep(0.2)  # the direct watch subscribes first
            tasks.create_task(collect(cut.watch("flaky", run_id), resumed, proxy))
    ids = [u.id for u in resumed]
    assert proxy.connections >= 3  # two cuts, two reconnects
    assert len(set(ids)) == len(ids)  # no duplicate
    assert ids == [u.id for u in straight][-len(ids) :]  # no gap: what a direct watch saw
    assert len(ids) >= 4
    assert (resumed[-1].status, resumed[-1].result) == ("TERMINATED", "SUCCESS")


async def test_a_run_now_answer_lost_upstream_is_retried_by_the_client_to_one_run():
    async with stack() as s:
        await fault(s, endpoint="run-now", after_effect=True, count=3, drop=True)
        with stamina.set_testing(True, attempts=3, cap=True):  # the service gives up at once
            async with AsyncClient(url_of(s), retry_delay=0.05) as jobs:
                started = await jobs.trigger("etl", ETL)
        runs = await emulator_runs(s, "etl")
        bodies = (await stats(s))["run_now_bodies"]
    assert runs == [started.run_id]
    assert len(bodies) == 4  # the service's three lost attempts, then the client's retry
    assert len({b["idempotency_token"] for b in bodies}) == 1


async def test_an_answer_lost_on_the_way_back_is_retried_by_the_client_to_one_run():
    async with stack() as s, Proxy(url_of(s)).running() as proxy:
        proxy.lose_answers(2)
        async with AsyncClient(proxy.url, retry_delay=0.05) as jobs:
            started = await jobs.trigger("etl", ETL)
        runs = await emulator_runs(s, "etl")
        calls = (await stats(s))["calls"]
    assert proxy.lost == 2
    assert runs == [started.run_id]
    assert calls["run-now"] == 1  # the retries were answered from the key's memory


async def test_token_mode_takes_the_api_key_and_refuses_a_call_without_it():
    async with token_mode_service() as url:
        async with AsyncClient(url, api_key=SECRET) as jobs:
            listed = [job.key for job in await jobs.jobs()]
            final = await jobs.run_and_wait("etl", ETL)
        for key in (None, "not-the-secret-0123456789"):
            async with AsyncClient(url, api_key=key) as stranger:
                with pytest.raises(Unauthenticated) as raised:
                    await stranger.trigger("etl", ETL)
                assert (raised.value.status, raised.value.code) == (401, "UNAUTHENTICATED")
    assert "etl" in listed
    assert final.result == "SUCCESS"


async def test_runs_status_run_and_output_read_what_the_service_answers():
    async with stack() as s, AsyncClient(url_of(s)) as jobs:
        final = await jobs.run_and_wait("pipeline", {})
        run_id = final.run["run_id"]
        listed = await jobs.runs("pipeline", limit=5)
        active = await jobs.runs("pipeline", active=True)
        status = await jobs.status("pipeline")
        run = await jobs.run("pipeline", run_id)
        output = await jobs.output("pipeline", run_id)
        direct = (await s.api.get(f"/api/jobs/pipeline/runs/{run_id}")).json()
    assert [(r["run_id"], r["jobKey"], r["result"]) for r in listed] == [
        (run_id, "pipeline", "SUCCESS")
    ]
    assert active == []
    assert (status.status, status.result, status.run["run_id"]) == ("TERMINATED", "SUCCESS", run_id)
    assert run == direct
    assert [t["task_key"] for t in output["tasks"]] == ["ingest", "transform", "publish"]


async def test_cancel_ends_a_running_run_as_canceled():
    async with stack() as s, AsyncClient(url_of(s)) as jobs:
        run_id = (await jobs.trigger("flaky", SLOW)).run_id
        await jobs.cancel("flaky", run_id)
        final = [u async for u in jobs.watch("flaky", run_id)][-1]
    assert final.result == "CANCELED"
