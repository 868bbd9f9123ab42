"""Repair, rerun, cancel-all and the runs of every job through `service.client` and the CLI,
over real sockets against the service and the emulator.

They call the recovery routes (`POST …/runs/{id}/repair`, `POST …/runs/{id}/rerun`,
`DELETE …/runs`, `GET /api/runs`; docs/recover.md).
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

import pytest

from service.client import AsyncClient, Conflict, NotFound, RunFailed, RunUpdate
from tests.e2e.clients import cli, emulator_runs, url_of
from tests.e2e.proxy import Proxy
from tests.e2e.servers import SPEED, Stack, stack, stats

pytestmark = pytest.mark.looptime(False)
ETL = {"run_date": "2026-11-29"}
# flaky takes any parameters: these make each of its tasks run 2 s and succeed.
SLOW = {"emulator_outcome": "SUCCESS", "emulator_duration_ms": str(int(2000 * SPEED))}


@pytest.fixture
async def s() -> AsyncIterator[Stack]:
    async with stack() as running:
        yield running


async def failed_run(jobs: AsyncClient) -> int:
    """A run of flaky: its `load` task fails (and `notify` does not run), the first time."""
    with pytest.raises(RunFailed) as raised:
        await jobs.run_and_wait("flaky")
    return raised.value.run_id


async def to_the_end(jobs: AsyncClient, job: str, run_id: int) -> RunUpdate:
    updates = [update async for update in jobs.watch(job, run_id)]
    return updates[-1]


def task_results(run: dict[str, Any]) -> dict[str, str | None]:
    return {t["task_key"]: t.get("state", {}).get("result_state") for t in run.get("tasks", [])}


async def test_a_repair_reruns_the_failed_task_and_the_run_then_succeeds(s):
    async with AsyncClient(url_of(s)) as jobs:
        run_id = await failed_run(jobs)
        repaired = await jobs.repair("flaky", run_id)
        final = await to_the_end(jobs, "flaky", run_id)
    assert repaired.run_id == run_id
    assert repaired.repair_id > 0
    assert (final.status, final.result) == ("TERMINATED", "SUCCESS")
    assert task_results(final.run)["load"] == "SUCCESS"


async def test_a_repair_of_named_tasks_reruns_their_dependents_too(s):
    async with AsyncClient(url_of(s)) as jobs:
        run_id = await failed_run(jobs)
        await jobs.repair("flaky", run_id, ["load"], rerun_dependents=True)
        final = await to_the_end(jobs, "flaky", run_id)
    assert final.result == "SUCCESS"
    assert task_results(final.run) == {"extract": "SUCCESS", "load": "SUCCESS", "notify": "SUCCESS"}


async def test_a_run_still_active_is_not_repaired(s):
    async with AsyncClient(url_of(s)) as jobs:
        run_id = (await jobs.trigger("flaky", SLOW)).run_id
        with pytest.raises(Conflict) as raised:
            await jobs.repair("flaky", run_id)
    assert (raised.value.status, raised.value.code) == (409, "RUN_NOT_FINISHED")


async def test_a_run_that_succeeded_has_nothing_to_repair(s):
    async with AsyncClient(url_of(s)) as jobs:
        final = await jobs.run_and_wait("etl", ETL)
        with pytest.raises(Conflict) as raised:
            await jobs.repair("etl", final.run["run_id"])
    assert (raised.value.status, raised.value.code) == (409, "NOTHING_TO_REPAIR")


async def test_a_run_of_another_job_is_not_found(s):
    async with AsyncClient(url_of(s)) as jobs:
        run_id = await failed_run(jobs)
        with pytest.raises(NotFound) as raised:
            await jobs.repair("etl", run_id)
    assert (raised.value.status, raised.value.code) == (404, "RUN_NOT_FOUND")


async def test_a_repair_whose_answer_is_lost_is_retried_to_one_repair(s):
    async with Proxy(url_of(s)).running() as proxy, AsyncClient(url_of(s)) as direct:
        run_id = await failed_run(direct)
        proxy.lose_answers(1)
        async with AsyncClient(proxy.url, retry_delay=0.05) as jobs:
            repaired = await jobs.repair("flaky", run_id)
        again = await direct.repair("flaky", run_id, idempotency_key=repaired.idempotency_key)
        calls = (await stats(s))["calls"]
    assert proxy.lost == 1
    assert again.repair_id == repaired.repair_id
    assert calls.get("runs/repair") == 1


async def test_a_rerun_starts_a_new_run_with_that_run_s_parameters(s):
    async with AsyncClient(url_of(s)) as jobs:
        first = (await jobs.run_and_wait("etl", ETL)).run
        rerun = await jobs.rerun("etl", first["run_id"])
        final = await to_the_end(jobs, "etl", rerun.run_id)
    assert rerun.run_id != first["run_id"]
    assert final.result == "SUCCESS"
    assert final.run["job_parameters"] == first["job_parameters"]


async def test_a_rerun_whose_answer_is_lost_is_retried_to_one_run(s):
    async with Proxy(url_of(s)).running() as proxy, AsyncClient(url_of(s)) as direct:
        first = (await direct.run_and_wait("etl", ETL)).run["run_id"]
        proxy.lose_answers(1)
        async with AsyncClient(proxy.url, retry_delay=0.05) as jobs:
            rerun = await jobs.rerun("etl", first)
        runs = await emulator_runs(s, "etl")
    assert proxy.lost == 1
    assert sorted(runs) == sorted([first, rerun.run_id])


async def test_cancel_all_cancels_every_active_run_of_the_job(s):
    async with AsyncClient(url_of(s)) as jobs:
        started = [(await jobs.trigger("flaky", SLOW)).run_id for _ in range(2)]
        await jobs.cancel_all("flaky")
        finals = await asyncio.gather(*(to_the_end(jobs, "flaky", r) for r in started))
    assert [f.result for f in finals] == ["CANCELED", "CANCELED"]


async def test_runs_of_every_job_come_newest_first_each_with_its_job_key(s):
    async with AsyncClient(url_of(s)) as jobs:
        etl = (await jobs.run_and_wait("etl", ETL)).run["run_id"]
        pipeline = (await jobs.run_and_wait("pipeline", {})).run["run_id"]
        running = (await jobs.trigger("flaky", SLOW)).run_id
        every = await jobs.runs(limit=10)
        active = await jobs.runs(active=True)
        ended = await jobs.runs(active=False)
    assert [(r["run_id"], r["jobKey"]) for r in every] == [
        (running, "flaky"),
        (pipeline, "pipeline"),
        (etl, "etl"),
    ]
    assert [r["run_id"] for r in active] == [running]
    assert [r["run_id"] for r in ended] == [pipeline, etl]
    assert every[1]["result"] == "SUCCESS"


async def test_the_cli_repairs_a_failed_run_and_follows_it_to_success(s):
    async with AsyncClient(url_of(s)) as jobs:
        run_id = await failed_run(jobs)
    done = await cli(url_of(s), "repair", "flaky", str(run_id), "--watch")
    assert done.code == 0, done.err
    assert done.out.splitlines()[-1].startswith(f"flaky run {run_id}: succeeded, tasks 3/3")


async def test_the_cli_refuses_to_repair_a_run_with_nothing_to_repair(s):
    async with AsyncClient(url_of(s)) as jobs:
        run_id = (await jobs.run_and_wait("etl", ETL)).run["run_id"]
    done = await cli(url_of(s), "repair", "etl", str(run_id))
    assert done.code == 2
    assert done.err.startswith("error: 409 NOTHING_TO_REPAIR: ")


async def test_the_cli_reruns_a_run_and_follows_the_new_one(s):
    async with AsyncClient(url_of(s)) as jobs:
        run_id = (await jobs.run_and_wait("etl", ETL)).run["run_id"]
    done = await cli(url_of(s), "rerun", "etl", str(run_id), "--watch")
    runs = await emulator_runs(s, "etl")
    assert done.code == 0, done.err
    [new] = [r for r in runs if r != run_id]
    assert done.out.splitlines()[-1].startswith(f"etl run {new}: succeeded")


async def test_the_cli_lists_the_runs_of_every_job(s):
    async with AsyncClient(url_of(s)) as jobs:
        await jobs.run_and_wait("etl", ETL)
        await jobs.run_and_wait("pipeline", {})
    done = await cli(url_of(s), "runs", COLUMNS="120")
    active = await cli(url_of(s), "runs", "--active")
    assert done.code == 0, done.err
    assert [line.split()[1] for line in done.out.splitlines()[1:]] == ["pipeline", "etl"]
    assert active.out == "no active runs\n"
