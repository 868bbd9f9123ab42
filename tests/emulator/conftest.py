"""Factories for the emulator's tests: a small scenario, an app on a ManualClock, a client."""

from __future__ import annotations

import asyncio
import socket
import threading
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager, contextmanager
from typing import Any

import httpx
import pytest
from asgi_lifespan import LifespanManager
from hypercorn.asyncio import serve
from hypercorn.config import Config
from hypercorn.typing import ASGIFramework
from starlette.applications import Starlette

from service.emulator import (
    Emulator,
    ManualClock,
    Scenario,
    create_emulator_app,
    emulator_state,
)
from service.emulator.scenario import DEFAULT_TOKEN, JobSpec, Parameter, TaskSpec, Timings

BASE_URL = "http://workspace.test"
TOKEN = DEFAULT_TOKEN
START_MS = 1_767_225_600_000
# Phase lengths of the test scenario: a one-task run ends 11.5 s after it starts.
PENDING, RUNNING, TERMINATING = 1_000, 10_000, 500
ONE_TASK = PENDING + RUNNING + TERMINATING

NOTEBOOK, WHEEL, SCRIPT, JAR, SQL, DBT = 101, 102, 103, 104, 105, 106
PIPELINE, FLAKY, SERIAL, EXCLUSIVE, NEVER = 107, 108, 109, 110, 111


def make_scenario(**overrides: Any) -> Scenario:
    """Eleven small jobs and short timings; keyword arguments replace top-level fields."""
    jobs = {
        "notebook": JobSpec(
            job_id=NOTEBOOK,
            max_concurrent_runs=50,
            parameters=(Parameter(name="env", default="dev"), Parameter(name="run_date")),
            tasks=(TaskSpec(task_key="main", output='{"rows": 3}'),),
        ),
        "wheel": JobSpec(
            job_id=WHEEL,
            max_concurrent_runs=50,
            tasks=(TaskSpec(task_key="load", type="python_wheel", output="loaded 3 rows\n"),),
        ),
        "script": JobSpec(
            job_id=SCRIPT, tasks=(TaskSpec(task_key="main", type="python_script", output="ok\n"),)
        ),
        "jar": JobSpec(job_id=JAR, tasks=(TaskSpec(task_key="main", type="spark_jar"),)),
        "report": JobSpec(
            job_id=SQL, tasks=(TaskSpec(task_key="report", type="sql", output="SELECT 1"),)
        ),
        "dbt": JobSpec(job_id=DBT, tasks=(TaskSpec(task_key="dbt", type="dbt"),)),
        "pipeline": JobSpec(
            job_id=PIPELINE,
            max_concurrent_runs=50,
            tasks=(
                TaskSpec(task_key="ingest", output='{"files": 2}'),
                TaskSpec(
                    task_key="transform",
                    type="python_script",
                    depends_on=("ingest",),
                    output="transformed\n",
                ),
                TaskSpec(task_key="publish", depends_on=("transform",), output="done"),
            ),
        ),
        "flaky": JobSpec(
            job_id=FLAKY,
            max_concurrent_runs=50,
            tasks=(
                TaskSpec(task_key="extract"),
                TaskSpec(
                    task_key="load",
                    type="python_wheel",
                    depends_on=("extract",),
                    outcome="FAILED",
                    repair_outcome="SUCCESS",
                    output="connecting\n",
                    error="ConnectionError: refused",
                ),
                TaskSpec(task_key="notify", depends_on=("load",)),
            ),
        ),
        "serial": JobSpec(job_id=SERIAL, max_concurrent_runs=1, queue=True),
        "exclusive": JobSpec(job_id=EXCLUSIVE, max_concurrent_runs=1, queue=False),
        "never": JobSpec(job_id=NEVER, max_concurrent_runs=0),
    }
    fields: dict[str, Any] = {
        "timings": Timings(
            queued_ms=0, pending_ms=PENDING, running_ms=RUNNING, terminating_ms=TERMINATING
        ),
        "jobs": jobs,
        "refused_tokens": ("dapi-revoked",),
        **overrides,
    }
    return Scenario(**fields)


def make_app(scenario: Scenario | None = None, *, clock: ManualClock | None = None) -> Starlette:
    return create_emulator_app(
        scenario or make_scenario(), clock=clock or ManualClock(start_ms=START_MS)
    )


@asynccontextmanager
async def make_client(
    app: Starlette, *, token: str | None = TOKEN
) -> AsyncIterator[httpx.AsyncClient]:
    """A client of the app in-process, authenticated with `token` (None: no Authorization)."""
    headers = {"Authorization": f"Bearer {token}"} if token is not None else {}
    async with (
        LifespanManager(app) as manager,
        httpx.AsyncClient(
            transport=httpx.ASGITransport(manager.app), base_url=BASE_URL, headers=headers
        ) as client,
    ):
        yield client


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock(start_ms=START_MS)


@pytest.fixture
def app(clock: ManualClock) -> Starlette:
    return make_app(clock=clock)


@pytest.fixture
def emulator(app: Starlette) -> Emulator:
    return emulator_state(app)


@pytest.fixture
async def client(app: Starlette) -> AsyncIterator[httpx.AsyncClient]:
    async with make_client(app) as c:
        yield c


async def run_now(client: httpx.AsyncClient, job_id: int, **body: Any) -> int:
    response = await client.post("/api/2.2/jobs/run-now", json={"job_id": job_id, **body})
    assert response.status_code == 200, response.text
    return int(response.json()["run_id"])


async def get_run(client: httpx.AsyncClient, run_id: int, version: str = "2.2") -> dict[str, Any]:
    response = await client.get(f"/api/{version}/jobs/runs/get", params={"run_id": run_id})
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


async def life_cycle(client: httpx.AsyncClient, run_id: int) -> str:
    return str((await get_run(client, run_id))["state"]["life_cycle_state"])


def task_states(run: dict[str, Any]) -> dict[str, str]:
    """task_key -> life_cycle_state[/result_state] of a runs/get answer."""
    return {
        task["task_key"]: "/".join(
            filter(None, (task["state"]["life_cycle_state"], task["state"].get("result_state")))
        )
        for task in run["tasks"]
    }


@contextmanager
def serve_in_thread(app: Starlette) -> Iterator[str]:
    """Serve `app` with Hypercorn on a loopback port from a thread of its own; yield its URL.

    The socket is bound and listening before the thread starts, so nothing waits for the
    server to come up. For synchronous clients such as the Databricks SDK.
    """
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(64)
    port = listener.getsockname()[1]
    config = Config()
    config.bind = [f"fd://{listener.detach()}"]  # Hypercorn owns (and closes) the socket
    config.accesslog = None
    config.errorlog = None  # injected drops would log a traceback each
    config.graceful_timeout = 1.0
    ready = threading.Event()
    control: dict[str, Any] = {}

    async def main() -> None:
        control["loop"], control["stop"] = asyncio.get_running_loop(), asyncio.Event()
        ready.set()
        asgi: ASGIFramework = app  # type: ignore[assignment]
        await serve(asgi, config, shutdown_trigger=control["stop"].wait)

    thread = threading.Thread(target=asyncio.run, args=(main(),), name="emulator")
    thread.start()
    ready.wait(timeout=10)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        control["loop"].call_soon_threadsafe(control["stop"].set)
        thread.join(timeout=10)
