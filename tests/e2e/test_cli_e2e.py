"""`jobs-sidecar run|watch|status|runs|cancel` as a process, against the service and the emulator
on loopback: exit codes, the live line on a terminal, plain and JSON lines elsewhere, one-line
errors, unknown outcomes retried to one run, and an API key from the environment."""

from __future__ import annotations

import json
import re

import pytest

from service.client import AsyncClient
from tests.e2e.clients import (
    SECRET,
    cli,
    cli_on_a_terminal,
    emulator_runs,
    token_mode_service,
    url_of,
)
from tests.e2e.proxy import Proxy
from tests.e2e.servers import SPEED, free_port, stack, stats

pytestmark = pytest.mark.looptime(False)
ETL = ("-p", "run_date=2026-11-29")
# flaky takes any parameters: these make each of its three tasks run 2 s and succeed.
SLOW = ("-p", "emulator_outcome=SUCCESS", "-p", f"emulator_duration_ms={int(2000 * SPEED)}")
CLEAR_LINE = "\r\x1b[K"


async def test_a_succeeded_run_exits_0_with_a_plain_line_per_change():
    async with stack() as s:
        done = await cli(url_of(s), "run", "pipeline", *ETL, "--watch")
        [run_id] = await emulator_runs(s, "pipeline")
    assert done.code == 0, done.err
    lines = done.out.splitlines()
    assert all(line.startswith(f"pipeline run {run_id}: ") for line in lines)
    assert re.fullmatch(r"pipeline run \d+: succeeded, tasks 3/3, 0:0\d", lines[-1])
    assert len(lines) >= 3  # starting, running …, succeeded
    assert done.err == ""


async def test_a_failed_run_exits_1_and_says_which_task_failed():
    async with stack() as s:
        done = await cli(url_of(s), "run", "flaky", "--watch")
    assert done.code == 1, done.err
    *_, last, reason = done.out.splitlines()
    assert re.fullmatch(r"flaky run \d+: failed, tasks 3/3, 0:0\d", last)
    assert reason == "  Task load failed with message: Workload failed, see run output for details."


async def test_a_refused_run_exits_2_with_one_line_naming_each_field():
    async with stack() as s:
        done = await cli(url_of(s), "run", "etl", "-p", "run_date=29/11", "-p", "env=qa")
        runs = await emulator_runs(s, "etl")
    assert done.code == 2
    assert done.err.splitlines() == [
        "error: parameter run_date: must be a date like 2026-11-29; "
        "parameter env: must be one of: dev, prod"
    ]
    assert (done.out, runs) == ("", [])


@pytest.mark.parametrize(
    ("args", "line"),
    [
        (("run", "nope"), 'error: 404 UNKNOWN_JOB: Unknown job "nope"'),
        (("run", "nope", "-p", "a=1"), "error: JOB: no job 'nope' you may view (jobs: dbt, etl, "),
        (("run", "wheel", "-p", "limit=lots"), "error: -p limit: expected an integer, got 'lots'"),
        (("watch", "etl", "12x"), "jobs-sidecar watch: error: argument RUN_ID: expected a "),
    ],
    ids=["unknown-job", "unknown-job-for-p", "untyped-p", "bad-run-id"],
)
async def test_usage_errors_and_refusals_exit_2_with_one_line(args, line):
    async with stack() as s:
        done = await cli(url_of(s), *args)
    assert done.code == 2
    assert done.err.splitlines()[-1].startswith(line)


async def test_an_unreachable_service_exits_3_naming_the_setting():
    url = f"http://127.0.0.1:{free_port()}"
    done = await cli(url, "status", "etl")
    assert done.code == 3
    assert done.err.splitlines() == [
        f"error: cannot reach the service at {url} (--url or SIDECAR_URL): could not connect "
        "(All connection attempts failed)"
    ]


async def test_a_malformed_url_is_a_usage_error_naming_where_it_came_from():
    done = await cli("localhost:8000", "status", "etl")
    flag = await cli("http://127.0.0.1:1", "status", "etl", "--url", "ftp://x")
    assert (done.code, flag.code) == (2, 2)
    assert done.err == "error: SIDECAR_URL: expected http(s)://host[:port], got 'localhost:8000'\n"
    assert flag.err == "error: --url: expected http(s)://host[:port], got 'ftp://x'\n"


async def test_on_a_terminal_progress_is_one_line_redrawn_until_the_run_ends():
    async with stack() as s:
        code, shown = await cli_on_a_terminal(url_of(s), "run", "flaky", *SLOW, "--watch")
        [run_id] = await emulator_runs(s, "flaky")
    assert code == 0, shown
    drawn = shown.split(CLEAR_LINE)
    assert drawn[0] == ""  # nothing before the first drawing
    assert all("\n" not in line for line in drawn[1:-1])  # each one overwrites the last
    assert re.fullmatch(rf"flaky run {run_id}: succeeded, tasks 3/3, 0:0[67]\r\n", drawn[-1])
    seconds = [line.rpartition(", ")[2] for line in drawn[1:]]
    assert {"0:01", "0:02", "0:03", "0:04", "0:05"} <= set(seconds)  # redrawn each second
    assert any(": running, tasks 1/3, " in line for line in drawn)
    assert max(len(line) for line in drawn) < 80


async def test_json_lines_are_the_run_then_each_event():
    async with stack() as s:
        done = await cli(
            url_of(s), "run", "etl", *ETL, "--watch", "--json", "--idempotency-key", "k-1"
        )
        [run_id] = await emulator_runs(s, "etl")
    assert done.code == 0, done.err
    first, *events = [json.loads(line) for line in done.out.splitlines()]
    assert first == {"event": "run", "runId": run_id, "idempotencyKey": "k-1"}
    assert {e["event"] for e in events} == {"message"}
    assert [e["run"]["run_id"] for e in events] == [run_id] * len(events)
    assert (events[-1]["status"], events[-1]["result"]) == ("TERMINATED", "SUCCESS")


async def test_a_lost_answer_is_retried_with_the_same_key_to_one_run():
    async with stack() as s, Proxy(url_of(s)).running() as proxy:
        proxy.lose_answers(1)
        done = await cli(proxy.url, "run", "etl", *ETL)
        runs = await emulator_runs(s, "etl")
        calls = (await stats(s))["calls"]
    assert done.code == 0, done.err
    assert proxy.lost == 1
    assert runs == [int(done.out)]
    assert calls["run-now"] == 1


async def test_an_outcome_still_unknown_exits_3_with_the_key_that_gets_the_run():
    async with stack() as s, Proxy(url_of(s)).running() as proxy:
        proxy.lose_answers(10)
        lost = await cli(proxy.url, "run", "etl", *ETL)
        key = re.search(r"--idempotency-key (\S+)", lost.err)
        assert key is not None, lost.err
        again = await cli(url_of(s), "run", "etl", *ETL, "--idempotency-key", key[1])
        runs = await emulator_runs(s, "etl")
    assert lost.code == 3
    assert len(lost.err.splitlines()) == 1
    assert proxy.lost == 4  # the first attempt and three retries, all with that key
    assert again.code == 0, again.err
    assert runs == [int(again.out)]  # the run the lost attempts started, and no other


async def test_token_mode_takes_the_api_key_from_sidecar_api_key():
    async with token_mode_service() as url:
        keyed = await cli(url, "run", "etl", *ETL, "--watch", SIDECAR_API_KEY=SECRET)
        without = await cli(url, "run", "etl", *ETL)
        wrong = await cli(url, "status", "etl", SIDECAR_API_KEY="not-the-key-0123456789")
    assert keyed.code == 0, keyed.err
    assert (without.code, wrong.code) == (2, 2)
    assert without.err.startswith("error: 401 UNAUTHENTICATED: ")
    assert without.err.rstrip().endswith("(set SIDECAR_API_KEY)")
    assert wrong.err.rstrip().endswith("(SIDECAR_API_KEY was not accepted)")
    assert SECRET not in keyed.out + keyed.err


async def test_runs_is_a_table_as_wide_as_the_terminal():
    async with stack() as s:
        async with AsyncClient(url_of(s)) as jobs:
            for job in ("etl", "pipeline"):
                await jobs.run_and_wait(job, {"run_date": "2026-11-29"})
        narrow = await cli(url_of(s), "runs", "etl", "--limit", "5", COLUMNS="40")
        wide = await cli(url_of(s), "runs", "pipeline", COLUMNS="200")
        lines = await cli(url_of(s), "runs", "etl", "--json")
        active = await cli(url_of(s), "runs", "etl", "--active")
        [run_id] = await emulator_runs(s, "etl")
    assert narrow.code == 0, narrow.err
    assert max(len(line) for line in narrow.out.splitlines()) <= 40
    assert narrow.out.splitlines()[1].split() == [str(run_id), "etl", "succeeded"]
    header = wide.out.splitlines()[0].split()
    assert header == ["RUN", "ID", "JOB", "STATE", "STARTED", "DURATION"]
    assert [json.loads(line)["run_id"] for line in lines.out.splitlines()] == [run_id]
    assert active.out == "no active runs\n"


async def test_status_exits_by_the_latest_run_s_outcome():
    async with stack() as s:
        never = await cli(url_of(s), "status", "etl")
        await cli(url_of(s), "run", "flaky", "--watch")
        failed = await cli(url_of(s), "status", "flaky")
    assert (never.code, never.out) == (0, "etl: no runs yet\n")
    assert failed.code == 1
    assert re.fullmatch(r"flaky run \d+: failed, 0:0\d\n", failed.out)


async def test_a_canceled_run_is_watched_to_its_end_and_exits_1():
    async with stack() as s:
        started = await cli(url_of(s), "run", "flaky", *SLOW)
        run_id = started.out.strip()
        canceled = await cli(url_of(s), "cancel", "flaky", run_id)
        watched = await cli(url_of(s), "watch", "flaky", run_id)
    assert (started.code, canceled.code, watched.code) == (0, 0, 1)
    assert canceled.out == f"flaky run {run_id}: cancel requested\n"
    *_, last, reason = watched.out.splitlines()
    assert re.fullmatch(rf"flaky run {run_id}: canceled, tasks \d/3, 0:0\d", last)
    assert reason == "  Run cancelled."


async def test_jobs_lists_each_job_s_parameters_and_output_prints_a_run_s():
    async with stack() as s:
        async with AsyncClient(url_of(s)) as jobs:
            final = await jobs.run_and_wait("pipeline", {})
        listed = await cli(url_of(s), "jobs")
        output = await cli(url_of(s), "output", "pipeline", str(final.run["run_id"]), "--json")
    assert listed.code == 0, listed.err
    assert "etl (job): run_date date, dry_run? boolean, env? dev|prod" in listed.out.splitlines()
    assert "flaky (job): any parameters" in listed.out.splitlines()
    assert output.code == 0, output.err
    tasks = json.loads(output.out)["tasks"]
    assert [t["task_key"] for t in tasks] == ["ingest", "transform", "publish"]
