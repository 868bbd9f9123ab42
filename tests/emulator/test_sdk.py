"""The official Databricks SDK against the emulator over real loopback: if they disagree, the
emulator is wrong. The SDK is synchronous, so the emulator is served from a thread; its clock
runs 1000 times faster than real time, so runs end within a millisecond unless asked not to."""

from __future__ import annotations

import os
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from databricks.sdk import WorkspaceClient
from databricks.sdk.config import Config
from databricks.sdk.errors import (
    InvalidParameterValue,
    OperationFailed,
    PermissionDenied,
    ResourceDoesNotExist,
)
from databricks.sdk.service.jobs import (
    QueueDetailsCodeCode,
    RepairHistoryItemType,
    RunLifeCycleState,
    RunResultState,
)

from service.emulator import Emulator, FaultRule, ScaledClock, create_emulator_app, emulator_state
from service.emulator.scenario import Timings
from tests.emulator.conftest import (
    FLAKY,
    NOTEBOOK,
    PIPELINE,
    SERIAL,
    TOKEN,
    make_scenario,
    serve_in_thread,
)

FAST = Timings(queued_ms=0, pending_ms=100, running_ms=500, terminating_ms=100)
LONG = {"emulator_duration_ms": "1000000"}  # 1000 s emulated: 1 s of real time


@pytest.fixture(scope="module")
def served() -> Iterator[tuple[str, Emulator]]:
    app = create_emulator_app(make_scenario(timings=FAST), clock=ScaledClock(speed=1000))
    with serve_in_thread(app) as url:
        yield url, emulator_state(app)


@pytest.fixture
def emulator(served: tuple[str, Emulator]) -> Emulator:
    emulator = served[1]
    emulator.reset()
    return emulator


@pytest.fixture(autouse=True)
def no_user_config(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """The SDK must not pick up ~/.databrickscfg or DATABRICKS_* from whoever runs the tests."""
    monkeypatch.setenv("HOME", str(tmp_path))
    for name in [name for name in os.environ if name.startswith("DATABRICKS_")]:
        monkeypatch.delenv(name)


def sdk(url: str, **auth: Any) -> WorkspaceClient:
    credentials = auth or {"token": TOKEN, "auth_type": "pat"}
    return WorkspaceClient(config=Config(host=url, retry_timeout_seconds=20, **credentials))


@pytest.fixture
def w(served: tuple[str, Emulator], emulator: Emulator) -> WorkspaceClient:
    return sdk(served[0])


def test_run_now_result_ends_terminated_success(w: WorkspaceClient) -> None:
    run = w.jobs.run_now(NOTEBOOK).result(timeout=timedelta(seconds=30))
    assert run.state is not None
    assert (run.state.life_cycle_state, run.state.result_state) == (
        RunLifeCycleState.TERMINATED,
        RunResultState.SUCCESS,
    )
    assert run.tasks is not None
    assert run.tasks[0].run_id != run.run_id


def test_the_waiter_polls_a_running_run_until_it_ends(w: WorkspaceClient) -> None:
    seen: list[Any] = []
    run = w.jobs.run_now(NOTEBOOK, job_parameters=LONG).result(
        callback=lambda r: seen.append(r.state and r.state.life_cycle_state)
    )
    assert seen
    assert set(seen) == {RunLifeCycleState.RUNNING}
    assert run.state is not None
    assert run.state.result_state == RunResultState.SUCCESS


def test_list_runs_pages_through_more_than_25_runs(w: WorkspaceClient, emulator: Emulator) -> None:
    started = {w.jobs.run_now(NOTEBOOK).run_id for _ in range(30)}
    listed = [run.run_id for run in w.jobs.list_runs(job_id=NOTEBOOK, limit=25)]
    assert len(listed) == len(started) == 30
    assert set(listed) == started
    assert emulator.stats.calls["runs/list"] == 2


def test_cancel_run_result_ends_cancelled(w: WorkspaceClient) -> None:
    run_id = w.jobs.run_now(NOTEBOOK, job_parameters=LONG).run_id
    run = w.jobs.cancel_run(run_id).result()
    assert run.state is not None
    assert run.state.result_state == RunResultState.CANCELED
    assert run.state.user_cancelled_or_timedout is True


def test_every_pipeline_task_has_its_output(w: WorkspaceClient) -> None:
    run = w.jobs.run_now(PIPELINE).result()
    assert run.tasks is not None
    outputs = [w.jobs.get_run_output(task.run_id) for task in run.tasks if task.run_id]
    assert outputs[0].notebook_output is not None
    assert outputs[0].notebook_output.result == '{"files": 2}'
    assert outputs[1].logs == "transformed\n"
    assert [o.metadata.run_id for o in outputs if o.metadata] == [t.run_id for t in run.tasks]


def test_the_output_of_a_job_run_is_refused(w: WorkspaceClient) -> None:
    run_id = w.jobs.run_now(PIPELINE).run_id
    with pytest.raises(InvalidParameterValue, match="multiple tasks"):
        w.jobs.get_run_output(run_id)


def test_a_failed_task_makes_the_waiter_raise_operation_failed(w: WorkspaceClient) -> None:
    with pytest.raises(OperationFailed, match="Task load failed with message"):
        w.jobs.run_now(FLAKY).result()


def test_repair_run_result_waits_for_the_repaired_run_to_end(w: WorkspaceClient) -> None:
    run_id = w.jobs.run_now(FLAKY).run_id
    with pytest.raises(OperationFailed):
        w.jobs.wait_get_run_job_terminated_or_skipped(run_id)
    run = w.jobs.repair_run(run_id, rerun_all_failed_tasks=True).result()
    assert run.state is not None
    assert (run.state.life_cycle_state, run.state.result_state) == (
        RunLifeCycleState.TERMINATED,
        RunResultState.SUCCESS,
    )
    assert run.tasks is not None
    assert [task.attempt_number for task in run.tasks] == [0, 1, 1]


def test_chained_repairs_take_the_latest_repair_id_from_the_history(w: WorkspaceClient) -> None:
    run_id = w.jobs.run_now(FLAKY).run_id
    with pytest.raises(OperationFailed):
        w.jobs.wait_get_run_job_terminated_or_skipped(run_id)
    fails = {"emulator_outcome": "FAILED"}
    with pytest.raises(OperationFailed):
        w.jobs.repair_run(run_id, rerun_all_failed_tasks=True, job_parameters=fails).result()
    history = w.jobs.get_run(run_id, include_history=True).repair_history or []
    latest = [item.id for item in history if item.type == RepairHistoryItemType.REPAIR][-1]
    run = w.jobs.repair_run(
        run_id,
        rerun_tasks=["load"],
        rerun_dependent_tasks=True,
        latest_repair_id=latest,
        job_parameters={"emulator_outcome": "SUCCESS"},
    ).result()
    assert run.state is not None
    assert run.state.result_state == RunResultState.SUCCESS
    history = w.jobs.get_run(run_id, include_history=True).repair_history or []
    assert [item.type for item in history] == [
        RepairHistoryItemType.ORIGINAL,
        RepairHistoryItemType.REPAIR,
        RepairHistoryItemType.REPAIR,
    ]


def test_a_repair_without_the_latest_repair_id_is_an_invalid_parameter(
    w: WorkspaceClient,
) -> None:
    run_id = w.jobs.run_now(FLAKY).run_id
    with pytest.raises(OperationFailed):
        w.jobs.wait_get_run_job_terminated_or_skipped(run_id)
    w.jobs.repair_run(run_id, rerun_all_failed_tasks=True).result()
    with pytest.raises(InvalidParameterValue, match="latest repair ID needs to be provided"):
        w.jobs.repair_run(run_id, rerun_tasks=["load"])


def test_cancel_all_runs_cancels_every_active_run_of_the_job(w: WorkspaceClient) -> None:
    started = [w.jobs.run_now(NOTEBOOK, job_parameters=LONG).run_id for _ in range(3)]
    w.jobs.cancel_all_runs(job_id=NOTEBOOK)
    ended = [w.jobs.wait_get_run_job_terminated_or_skipped(run_id) for run_id in started]
    assert [run.state.result_state for run in ended if run.state] == [RunResultState.CANCELED] * 3


def test_a_queued_run_says_why_it_waits_and_starts_when_a_slot_frees(
    w: WorkspaceClient,
) -> None:
    first = w.jobs.run_now(SERIAL, job_parameters=LONG).run_id
    second = w.jobs.run_now(SERIAL)
    queued = w.jobs.get_run(second.run_id)
    assert queued.state is not None
    assert queued.state.life_cycle_state == RunLifeCycleState.QUEUED
    assert queued.state.queue_reason == "Queued due to reaching maximum concurrent runs of 1."
    assert queued.status is not None
    assert queued.status.queue_details is not None
    assert queued.status.queue_details.code == QueueDetailsCodeCode.MAX_CONCURRENT_RUNS_REACHED
    w.jobs.cancel_run(first)
    run = second.result()
    assert run.state is not None
    assert run.state.result_state == RunResultState.SUCCESS
    assert (run.queue_duration or 0) > 0


def test_unknown_runs_and_jobs_do_not_exist(w: WorkspaceClient) -> None:
    with pytest.raises(ResourceDoesNotExist):
        w.jobs.get_run(123)
    with pytest.raises(ResourceDoesNotExist):
        w.jobs.get(123)


def test_run_now_of_an_unknown_job_is_an_invalid_parameter(w: WorkspaceClient) -> None:
    with pytest.raises(InvalidParameterValue, match=r"Job 123 does not exist\."):
        w.jobs.run_now(123)


def test_oauth_m2m_discovers_the_token_endpoint_and_uses_its_token(
    served: tuple[str, Emulator], emulator: Emulator
) -> None:
    m2m = sdk(
        served[0], client_id="local-client", client_secret="local-secret", auth_type="oauth-m2m"
    )
    assert m2m.jobs.get(NOTEBOOK).job_id == NOTEBOOK
    assert emulator.stats.calls["oidc/token"] == 1
    assert emulator.stats.tokens[-1].startswith("eyJ")


def test_a_refused_token_is_permission_denied(served: tuple[str, Emulator]) -> None:
    with pytest.raises(PermissionDenied, match="Invalid access token"):
        sdk(served[0], token="dapi-revoked", auth_type="pat").jobs.get(NOTEBOOK)


def test_the_sdk_retries_a_429_after_retry_after(w: WorkspaceClient, emulator: Emulator) -> None:
    emulator.add_fault(FaultRule(endpoint="jobs/get", status=429, retry_after=0))
    assert w.jobs.get(NOTEBOOK).job_id == NOTEBOOK
    assert emulator.stats.calls["jobs/get"] == 2


def test_the_sdk_retries_a_dropped_connection(w: WorkspaceClient, emulator: Emulator) -> None:
    emulator.add_fault(FaultRule(endpoint="jobs/get", drop=True))
    assert w.jobs.get(NOTEBOOK).job_id == NOTEBOOK
    assert emulator.stats.calls["jobs/get"] == 2


def test_an_idempotency_token_makes_a_lost_run_now_answer_harmless(
    w: WorkspaceClient, emulator: Emulator
) -> None:
    emulator.add_fault(FaultRule(endpoint="run-now", status=503, retry_after=0, after_effect=True))
    run_id = w.jobs.run_now(NOTEBOOK, idempotency_token="trigger-1").run_id
    assert list(emulator.runs) == [run_id]
    assert emulator.stats.calls["run-now"] == 2


def test_the_2_1_paths_answer_like_2_2(served: tuple[str, Emulator], emulator: Emulator) -> None:
    headers = {"Authorization": f"Bearer {TOKEN}"}
    with httpx.Client(base_url=served[0], headers=headers) as client:
        run_id = client.post("/api/2.1/jobs/run-now", json={"job_id": NOTEBOOK}).json()["run_id"]
        run = client.get("/api/2.1/jobs/runs/get", params={"run_id": run_id}).json()
    assert (run["run_id"], run["job_id"]) == (run_id, NOTEBOOK)
    assert run["run_page_url"].startswith(f"{served[0]}/?o=1234567890123456#job/{NOTEBOOK}/run/")


def test_the_sdk_reads_the_current_user(w: WorkspaceClient) -> None:
    user = w.current_user.me()
    assert user.user_name == "emulator@example.com"
    assert user.active is True
    assert user.id is not None
    assert user.id.isdigit()
