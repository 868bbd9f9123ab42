"""The Python API: handles for each job, every verb returning an ExecutionResult."""

from __future__ import annotations

import asyncio
import json

import httpx
import pytest

from service.basics.errors import OutcomeUnknown, RunFailed, SidecarError, Unavailable, UnknownJob
from service.python_api import ExecutionResult, Jobs, RunStatus
from service.runtime import open_services
from tests.factories import (
    JOB_IDS,
    held_open,
    make_run,
    make_settings,
    make_task,
    scim_me,
    timeline,
    transport,
    upstream_router,
)


@pytest.fixture
async def jobs(settings, upstream):
    async with held_open(Jobs.open(settings, transport=transport(upstream))) as jobs:
        yield jobs


async def test_unknown_key_raises_with_the_known_keys(jobs):
    with pytest.raises(
        UnknownJob, match=r'Unknown job "nope"\. Available jobs: etl, other, report'
    ):
        jobs("nope")


async def test_unknown_key_is_quoted_in_at_most_200_characters(jobs):
    with pytest.raises(UnknownJob) as excinfo:
        jobs("k" * 10_000)
    assert "k" * 201 not in excinfo.value.message


async def test_except_unknown_job_around_the_block_catches_an_unknown_key(settings, upstream):
    caught = None
    try:
        async with Jobs.open(settings, transport=transport(upstream)) as jobs:
            jobs("etll")
    except UnknownJob as exc:  # not an ExceptionGroup holding it
        caught = exc
    assert caught is not None
    assert caught.message == 'Unknown job "etll". Available jobs: etl, other, report'


@pytest.mark.looptime
async def test_a_failed_run_leaves_the_block_as_run_failed(settings, upstream):
    upstream.post("/run-now").respond(json={"run_id": 555})
    upstream.get("/runs/get").respond(json=make_run(555, state="TERMINATED", result="FAILED"))

    async def wait_in_the_block() -> None:
        async with Jobs.open(settings, transport=transport(upstream)) as jobs:
            async for _ in jobs("etl").run_and_wait({}):
                pass

    with pytest.raises(RunFailed) as caught:
        await wait_in_the_block()
    assert caught.value.run_id == 555


async def test_the_programs_own_error_leaves_the_block_as_itself(settings, upstream):
    with pytest.raises(KeyError, match="mine"):
        async with Jobs.open(settings, transport=transport(upstream)):
            raise KeyError("mine")


async def test_run_now_returns_the_run_id(jobs, upstream):
    upstream.post("/run-now").respond(json={"run_id": 11})
    result = await jobs("etl").run_now({})
    assert result == ExecutionResult(ok=True, data={"run_id": 11})


async def test_run_now_failure_is_an_error_result(jobs, upstream):
    upstream.post("/run-now").respond(403, json={"error_code": "PERMISSION_DENIED", "message": "x"})
    result = await jobs("etl").run_now({})
    assert not result.ok
    assert (result.error.status, result.error.code) == (502, "UPSTREAM_AUTH")


async def test_run_now_of_a_job_id_databricks_does_not_know_names_key_and_id(jobs, upstream):
    missing = {"error_code": "INVALID_PARAMETER_VALUE", "message": "Job 101 does not exist."}
    upstream.post("/run-now").respond(400, json=missing)
    result = await jobs("etl").run_now({})
    assert result.error is not None
    assert (result.error.status, result.error.code) == (404, "JOB_NOT_FOUND")
    assert result.error.message == "Databricks has no job 101 (configured as etl)"


async def test_idempotency_key_is_scoped_and_stable(jobs, upstream):
    route = upstream.post("/run-now").mock(
        side_effect=[
            httpx.Response(200, json={"run_id": 11}),
            httpx.Response(200, json={"run_id": 12}),
        ]
    )
    first = await jobs("etl").run_now({}, idempotency_key="k1")
    again = await jobs("etl").run_now({}, idempotency_key="k1")
    other_job = await jobs("report").run_now({}, idempotency_key="k1")
    tokens = [json.loads(c.request.content)["idempotency_token"] for c in route.calls]
    assert first.data == again.data == {"run_id": 11}  # the repeat is answered from memory
    assert other_job.data == {"run_id": 12}
    assert len(tokens) == 2
    assert tokens[0] != tokens[1]
    assert all(len(t) <= 64 for t in tokens)


async def test_run_now_with_a_lost_answer_returns_the_key_to_retry_with(jobs, upstream):
    route = upstream.post("/run-now").mock(
        side_effect=[*[httpx.ReadTimeout("slow")] * 3, httpx.Response(200, json={"run_id": 11})]
    )
    lost = await jobs("etl").run_now({})
    again = await jobs("etl").run_now({}, idempotency_key=lost.error.idempotency_key)
    assert (lost.ok, lost.error.status, lost.error.code) == (False, 504, "OUTCOME_UNKNOWN")
    assert again == ExecutionResult(ok=True, data={"run_id": 11})
    tokens = {json.loads(c.request.content)["idempotency_token"] for c in route.calls}
    assert len(tokens) == 1  # what reached Databricks the first time is what the retry sent


async def test_run_and_wait_with_a_lost_answer_raises_with_the_key(jobs, upstream):
    upstream.post("/run-now").mock(
        side_effect=[
            *[httpx.RemoteProtocolError("peer closed")] * 3,
            httpx.Response(200, json={"run_id": 11}),
        ]
    )
    upstream.get("/runs/get").respond(json=make_run(11, state="TERMINATED", result="SUCCESS"))
    with pytest.raises(OutcomeUnknown) as lost:
        async for _ in jobs("etl").run_and_wait({}):
            pass
    key = lost.value.idempotency_key
    seen = [s.run["run_id"] async for s in jobs("etl").run_and_wait({}, idempotency_key=key)]
    assert key
    assert lost.value.code == "OUTCOME_UNKNOWN"
    assert seen == [11]


async def test_get_run_data_is_a_fresh_copy(jobs, upstream):
    upstream.get("/runs/get").respond(json=make_run(5))
    first = await jobs("etl").get_run(5)
    first.data["state"] = "tampered"
    second = await jobs("etl").get_run(5)
    assert second.data["state"]["life_cycle_state"] == "RUNNING"
    assert upstream.calls.call_count == 1


async def test_get_run_of_other_job_is_a_404_result(jobs, upstream):
    upstream.get("/runs/get").respond(json=make_run(5, job_id=JOB_IDS["other"]))
    result = await jobs("etl").get_run(5)
    assert (result.ok, result.error.status) == (False, 404)


async def test_list_runs_and_last_run(jobs, upstream):
    upstream.get("/runs/list").respond(json={"runs": [make_run(2), make_run(1)]})
    assert [r["run_id"] for r in (await jobs("etl").list_runs(limit=2)).data] == [2, 1]
    assert (await jobs("etl").last_run()).data["run_id"] == 2


@pytest.mark.parametrize("limit", [0, -1, 101])
async def test_list_runs_with_a_limit_outside_one_to_a_hundred_is_a_400_result(
    jobs, upstream, limit
):
    result = await jobs("etl").list_runs(limit=limit)
    assert (result.ok, result.error.status, result.error.code) == (False, 400, "BAD_REQUEST")
    assert result.error.message == "limit must be an integer from 1 to 100"
    assert not upstream.calls


async def test_get_job(jobs, upstream):
    upstream.get("/get").respond(json={"job_id": JOB_IDS["etl"]})
    assert (await jobs("etl").get_job()).data == {"job_id": JOB_IDS["etl"]}


async def test_cancel_run(jobs, upstream):
    upstream.get("/runs/get").respond(json=make_run(5))
    cancel = upstream.post("/runs/cancel").respond(json={})
    assert (await jobs("etl").cancel_run(5)).ok
    assert cancel.called


async def test_get_run_output_of_a_multi_task_run_reads_every_task(jobs, upstream):
    tasks = [make_task(k, 900 + i) for i, k in enumerate(["a", "b", "c"])]
    upstream.get("/runs/get").respond(json=make_run(5, tasks=tasks))
    for i in range(3):
        upstream.get("/runs/get-output", params={"run_id": str(900 + i)}).respond(
            json={"notebook_output": {"result": f"r{i}"}}
        )
    result = await jobs("etl").get_run_output(5)
    assert [
        (t["task_key"], t["output"]["notebook_output"]["result"]) for t in result.data["tasks"]
    ] == [("a", "r0"), ("b", "r1"), ("c", "r2")]


async def test_as_user_without_token_is_an_error_result(jobs, upstream):
    result = await jobs("etl").as_user({}).get_run(5)
    assert (result.ok, result.error.status) == (False, 401)
    assert not upstream.calls


async def test_as_user_acts_with_the_forwarded_token(jobs, upstream):
    scim_me(upstream, {"u1": "u@x.com"})
    route = upstream.get("/runs/get").respond(json=make_run(5))
    await jobs("etl").as_user({"x-forwarded-access-token": "u1"}).get_run(5)
    assert route.calls.last.request.headers["authorization"] == "Bearer u1"


@pytest.mark.looptime
async def test_run_and_wait_yields_each_change_until_terminal():
    router = upstream_router()
    router.post("/run-now").respond(json={"run_id": 555})
    router.get("/runs/get").mock(
        side_effect=timeline([(0, "PENDING"), (10, "RUNNING"), (40, "TERMINATED")])
    )
    async with Jobs.open(make_settings(), transport=transport(router)) as jobs:
        statuses = [s async for s in jobs("etl").run_and_wait({})]
    assert [s.status for s in statuses] == ["PENDING", "RUNNING", "TERMINATED"]
    assert isinstance(statuses[0], RunStatus)
    assert statuses[-1].run["state"]["result_state"] == "SUCCESS"


@pytest.mark.looptime
async def test_run_and_wait_times_out_after_wait_timeout(tmp_path):
    router = upstream_router()
    router.post("/run-now").respond(json={"run_id": 555})
    router.get("/runs/get").respond(json=make_run(555, state="RUNNING"))
    settings = make_settings(
        "[jobs.etl]\njob_id = 101\nwait_timeout_ms = 60000\n", tmp_path=tmp_path
    )
    async with Jobs.open(settings, transport=transport(router)) as jobs:
        from service.basics.errors import WaitTimeout  # noqa: PLC0415

        with pytest.raises(WaitTimeout, match="Run 555 did not finish within 60000 ms") as caught:
            async for _ in jobs("etl").run_and_wait({}):
                pass
    assert caught.value.code == "WAIT_TIMEOUT"  # as the SSE stream's error event says
    assert caught.value.run_id == 555  # the run exists: watch or cancel it, do not re-trigger


@pytest.mark.looptime
async def test_run_and_wait_ended_by_failing_polls_raises_what_the_stream_shows(tmp_path):
    router = upstream_router()
    router.post("/run-now").respond(json={"run_id": 555})
    router.get("/runs/get").respond(500, json={"error_code": "INTERNAL_ERROR", "message": "boom"})
    settings = make_settings("[jobs.etl]\njob_id = 101\n", tmp_path=tmp_path)
    async with Jobs.open(settings, transport=transport(router)) as jobs:
        with pytest.raises(SidecarError) as caught:
            async for _ in jobs("etl").run_and_wait({}):
                pass
    error = caught.value
    # The SSE stream's final error event says the same: one error, one wording.
    assert (error.code, error.message, error.run_id) == (
        "UPSTREAM_UNAVAILABLE",
        "Databricks is unavailable",
        555,
    )


@pytest.mark.looptime
async def test_run_and_wait_meeting_shutdown_after_the_trigger_names_the_run():
    router = upstream_router()
    async with open_services(make_settings(), transport=transport(router)) as services:

        def trigger_then_shutdown(_request):
            services.hub.close_all()  # SIGTERM arrives while run-now is in flight
            return httpx.Response(200, json={"run_id": 555})

        router.post("/run-now").mock(side_effect=trigger_then_shutdown)
        with pytest.raises(Unavailable) as caught:
            async for _ in Jobs(services)("etl").run_and_wait({}):
                pass
    assert caught.value.run_id == 555


@pytest.mark.looptime
@pytest.mark.parametrize(
    ("state", "result"),
    [("TERMINATED", "FAILED"), ("TERMINATED", "CANCELED"), ("INTERNAL_ERROR", None)],
)
async def test_run_and_wait_raises_run_failed_after_yielding_the_final_change(state, result):
    router = upstream_router()
    router.post("/run-now").respond(json={"run_id": 555})
    ends = make_run(555, state=state, result=result)
    router.get("/runs/get").mock(
        side_effect=lambda _request: httpx.Response(
            200,
            json=ends
            if asyncio.get_running_loop().time() >= 10
            else make_run(555, state="RUNNING"),
        )
    )
    seen = []
    async with Jobs.open(make_settings(), transport=transport(router)) as jobs:
        with pytest.raises(RunFailed, match="Run 555 ended") as caught:
            await collect(jobs("etl").run_and_wait({}), into=seen)
    assert seen == ["RUNNING", state]  # every change, the final one too, then the error
    assert caught.value.run_id == 555
    assert caught.value.run == ends  # the whole final run, as Databricks sent it
    assert caught.value.code == "RUN_FAILED"


async def collect(statuses, *, into):
    """Drain a run_and_wait, keeping each status, until it returns or raises."""
    async for status in statuses:
        into.append(status.status)


def failed_run(*repairs):
    history = [{"type": "ORIGINAL"}, *({"type": "REPAIR", "id": r} for r in repairs)]
    tasks = [make_task("load", 2, result="FAILED")]
    return make_run(5, state="INTERNAL_ERROR", result="FAILED", tasks=tasks, repair_history=history)


async def test_repair_returns_the_run_and_the_repair(jobs, upstream):
    upstream.get("/runs/get").respond(json=failed_run(3))
    repair = upstream.post("/runs/repair").respond(json={"repair_id": 4})
    result = await jobs("etl").repair(5, ["load"], rerun_dependents=True)
    assert result == ExecutionResult(ok=True, data={"run_id": 5, "repair_id": 4})
    assert json.loads(repair.calls.last.request.content) == {
        "run_id": 5,
        "rerun_tasks": ["load"],
        "rerun_dependent_tasks": True,
        "latest_repair_id": 3,
    }


async def test_repair_once_per_key(jobs, upstream):
    upstream.get("/runs/get").mock(
        side_effect=[
            httpx.Response(200, json=failed_run()),
            httpx.Response(200, json=failed_run(4)),
        ]
    )
    repair = upstream.post("/runs/repair").respond(json={"repair_id": 4})
    first = await jobs("etl").repair(5, idempotency_key="k")
    second = await jobs("etl").repair(5, idempotency_key="k")
    assert first == second
    assert repair.call_count == 1


async def test_repair_of_a_running_run_is_an_error_result(jobs, upstream):
    upstream.get("/runs/get").respond(json=make_run(5, state="RUNNING"))
    result = await jobs("etl").repair(5)
    assert result.error is not None
    assert (result.error.status, result.error.code) == (409, "RUN_NOT_FINISHED")


async def test_repair_with_tasks_not_a_list_of_names_is_a_400_result(jobs, upstream):
    result = await jobs("etl").repair(5, tasks=[""])
    assert result.error is not None
    assert result.error.status == 400


async def test_rerun_starts_a_run_with_the_runs_parameters(jobs, upstream):
    parameters = [{"name": "env", "default": "dev", "value": "prod"}]
    upstream.get("/runs/get").respond(json=make_run(5, job_parameters=parameters))
    run_now = upstream.post("/run-now").respond(json={"run_id": 9})
    result = await jobs("etl").rerun(5)
    assert result == ExecutionResult(ok=True, data={"run_id": 9})
    assert json.loads(run_now.calls.last.request.content)["job_parameters"] == {"env": "prod"}


async def test_cancel_all(jobs, upstream):
    cancel_all = upstream.post("/runs/cancel-all").respond(json={})
    assert await jobs("etl").cancel_all() == ExecutionResult(ok=True)
    assert json.loads(cancel_all.calls.last.request.content) == {"job_id": JOB_IDS["etl"]}


async def test_runs_of_every_job_newest_first(jobs, upstream):
    for job_id in JOB_IDS.values():
        run = make_run(job_id, job_id=job_id, start_time=job_id)
        upstream.get("/runs/list", params={"job_id": str(job_id)}).respond(json={"runs": [run]})
    result = await jobs.runs(limit=2)
    assert result.ok
    assert [(r["jobKey"], r["run_id"]) for r in result.data or []] == [
        ("other", 103),
        ("report", 102),
    ]


async def test_runs_with_a_limit_outside_one_to_a_hundred_is_a_400_result(jobs):
    result = await jobs.runs(limit=0)
    assert result.error is not None
    assert result.error.status == 400
