"""Factories shared by the tests: settings, runs as Databricks sends them, an app and a client."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator, Mapping
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import httpx
import msgspec
import respx
from asgi_lifespan import LifespanManager

from service.app import create_app
from service.clock import LoopClock
from service.config import Settings, load_settings
from service.settings_file import LimitsTable

HOST = "https://ws.test"
SIDECAR_NAME = "sidecar.test"  # the in-process client's Host (`with_lifespan`)
TOKEN = "dapi-test-token"
SCIM_ME = "/api/2.0/preview/scim/v2/Me"  # who a token belongs to
JOB_IDS = {"etl": 101, "report": 102, "other": 103}
# The demo jobs: config/demo.toml, config/emulator.toml and docker-compose.yml agree on these.
# Tests trigger and read far more often than a person: out of the way unless a test sets
# `[limits]` (or passes `limits=`); the defaults are tested in tests/test_rate_limits.py.
ROOMY_LIMITS = LimitsTable(
    trigger="100000/minute", read="1000000/minute", streams_per_caller=10_000
)
DEMO_JOB_IDS = {
    "etl": 1001,
    "wheel": 1002,
    "script": 1003,
    "jar": 1004,
    "report": 1005,
    "dbt": 1006,
    "pipeline": 1007,
    "flaky": 1008,
}


# Apps mode on loopback: the test client's peer (127.0.0.1) is a trusted proxy (the default
# `trusted_proxies`), so the headers of `proxied` name the caller and forward their token.
APPS_ENV = {
    "DATABRICKS_HOST": HOST,
    "DATABRICKS_TOKEN": TOKEN,
    "HOST": "127.0.0.1",
    "ACCESS_MODE": "apps",
}


def proxied(email: str, token: str | None = None) -> dict[str, str]:
    """The headers the Databricks Apps proxy sends for `email`, with their user token if any."""
    headers = {"x-forwarded-email": email}
    if token is not None:
        headers["x-forwarded-access-token"] = token
    return headers


def make_settings(
    toml: str | None = None,
    *,
    environ: Mapping[str, str] | None = None,
    tmp_path: Path | None = None,
    **overrides: Any,
) -> Settings:
    """Settings from an optional TOML text and environment, then field overrides.

    Listening on loopback: open mode by default (service.access_mode), as `make run` is, and
    answering to the in-process client's name (SIDECAR_NAME) besides loopback (service.hosts).
    `[limits]` are roomy (ROOMY_LIMITS) unless the TOML has a `[limits]` table."""
    env = {"DATABRICKS_HOST": HOST, "DATABRICKS_TOKEN": TOKEN, "HOST": "127.0.0.1"}
    if environ is not None:
        env = dict(environ)
    env.setdefault("ALLOWED_HOSTS", SIDECAR_NAME)
    path = None
    if toml is not None:
        assert tmp_path is not None, "a TOML text needs tmp_path"
        path = tmp_path / "jobs.toml"
        path.write_text(toml)
    elif environ is None:
        env.update({f"DATABRICKS_JOB_{k.upper()}": str(v) for k, v in JOB_IDS.items()})
    settings = load_settings(env, path)
    if "[limits]" not in (toml or ""):
        overrides.setdefault("limits", ROOMY_LIMITS)
    return msgspec.structs.replace(settings, **overrides) if overrides else settings


def make_run(
    run_id: int = 555,
    *,
    job_id: int = JOB_IDS["etl"],
    state: str = "RUNNING",
    result: str | None = None,
    tasks: list[dict[str, Any]] | None = None,
    **extra: Any,
) -> dict[str, Any]:
    """A runs/get object with the fields Databricks always sends, plus `extra`."""
    run_state: dict[str, Any] = {"life_cycle_state": state, "state_message": ""}
    if result is not None:
        run_state["result_state"] = result
    run: dict[str, Any] = {
        "job_id": job_id,
        "run_id": run_id,
        "number_in_job": run_id,
        "state": run_state,
        "status": {"state": "TERMINATED" if state in {"TERMINATED", "SKIPPED"} else state},
        "start_time": 1_795_820_400_123,
        "end_time": 0,
        "run_page_url": f"{HOST}/?o=1#job/{job_id}/run/{run_id}",
        **extra,
    }
    if tasks is not None:
        run["tasks"] = tasks
    return run


def make_task(task_key: str, run_id: int, state: str = "TERMINATED", result: str = "SUCCESS"):
    return {
        "task_key": task_key,
        "run_id": run_id,
        "state": {"life_cycle_state": state, "result_state": result},
    }


def upstream_router() -> respx.MockRouter:
    """A respx router for the workspace: unmatched requests fail the test."""
    return respx.MockRouter(base_url=f"{HOST}/api/2.1/jobs", assert_all_called=False)


def scim_me(router: respx.MockRouter, users: Mapping[str, str]) -> respx.Route:
    """The workspace's SCIM `Me` on `router`: token → user name (the id is `id-<name>`).

    Any other token is refused as Databricks refuses an invalid one.
    """

    def me(request: httpx.Request) -> httpx.Response:
        name = users.get(request.headers.get("authorization", "").removeprefix("Bearer "))
        if name is None:
            refused = "Invalid access token."
            return httpx.Response(
                403,
                json={"error_code": 403, "message": refused},
                headers={"X-Databricks-Reason-Phrase": refused},
            )
        return httpx.Response(200, json={"id": f"id-{name}", "userName": name, "active": True})

    return router.get(f"{HOST}{SCIM_ME}").mock(side_effect=me)


def transport(router: respx.MockRouter) -> httpx.MockTransport:
    return httpx.MockTransport(router.async_handler)


def m2m_settings(**overrides: Any) -> Settings:
    """Settings for OAuth machine-to-machine: the token comes from {HOST}/oidc/v1/token."""
    environ = {
        "DATABRICKS_HOST": HOST,
        "DATABRICKS_CLIENT_ID": "c",
        "DATABRICKS_CLIENT_SECRET": "s",
        "DATABRICKS_JOB_ETL": str(JOB_IDS["etl"]),
        "HOST": "127.0.0.1",
    }
    return make_settings(environ=environ, **overrides)


@asynccontextmanager
async def make_client(
    settings: Settings,
    upstream: respx.MockRouter | httpx.AsyncBaseTransport,
    **app_options: Any,
) -> AsyncIterator[httpx.AsyncClient]:
    """An httpx client over the app with its lifespan running."""
    if isinstance(upstream, respx.MockRouter):
        upstream = transport(upstream)
    app = create_app(settings, upstream=upstream, **app_options)
    async with with_lifespan(app) as (_, client):
        yield client


@asynccontextmanager
async def with_lifespan(app: Any) -> AsyncIterator[tuple[Any, httpx.AsyncClient]]:
    """The app with its lifespan running (to call as ASGI directly), and a client over it."""
    async with (
        LifespanManager(app) as manager,
        httpx.AsyncClient(
            transport=httpx.ASGITransport(manager.app), base_url=f"http://{SIDECAR_NAME}"
        ) as client,
    ):
        yield manager.app, client


def timeline(steps: list[tuple[float, str]], *, run_id: int = 555, job_id: int = JOB_IDS["etl"]):
    """A runs/get side effect: the run's state at each loop time, e.g. [(0, "PENDING"), ...]."""
    import asyncio  # noqa: PLC0415 - only timelines need the loop

    def respond(request: httpx.Request) -> httpx.Response:
        now = asyncio.get_running_loop().time()
        state = [s for t, s in steps if t <= now][-1]
        result = "SUCCESS" if state == "TERMINATED" else None
        return httpx.Response(200, json=make_run(run_id, job_id=job_id, state=state, result=result))

    return respond


def sse_events(text: str) -> list[dict[str, str]]:
    """Parse an event stream body into its events (comments and retry hints dropped)."""
    events = []
    for block in text.split("\n\n"):
        fields: dict[str, str] = {}
        for line in block.splitlines():
            if line.startswith(":") or ": " not in line:
                continue
            name, _, value = line.partition(": ")
            fields[name] = value
        if "data" in fields:
            events.append(fields)
    return events


@asynccontextmanager
async def held_open(context: Any) -> AsyncIterator[Any]:
    """Enter an async context in a task of its own, as a lifespan does.

    pytest-asyncio sets a fixture up and tears it down in different tasks, and a task group
    must be left by the task that entered it; LifespanManager solves this the same way.
    """
    import asyncio  # noqa: PLC0415

    ready: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
    stop = asyncio.Event()

    async def hold() -> None:
        try:
            async with context as value:
                ready.set_result(value)
                await stop.wait()
        except BaseException as exc:
            if not ready.done():
                ready.set_exception(exc)
            raise

    task = asyncio.create_task(hold())
    try:
        yield await ready
    finally:
        stop.set()
        await task


async def advance(seconds: float) -> None:
    """Let `seconds` of loop time pass: at once, on the fast-forwarded (looptime) loop.

    Fails rather than sleep on the wall clock if a test runs without looptime.
    """
    import asyncio  # noqa: PLC0415

    import looptime  # noqa: PLC0415

    loop = asyncio.get_running_loop()
    assert isinstance(loop, looptime.LoopTimeEventLoop), "advance() needs the looptime loop"
    assert loop.looptime_on, "advance() needs looptime enabled for this test"
    await asyncio.sleep(seconds)


def gauge(metrics_text: str, name: str) -> float:
    for line in metrics_text.splitlines():
        if line.startswith(name + " "):
            return float(line.split()[1])
    raise AssertionError(f"{name} not in /metrics")


DATE = "Wed, 21 Oct 2015 07:28:30 GMT"  # a Retry-After date, 30 s after StoppedWallClock
THIRTY_S_BEFORE_MS = 1_445_412_480_000  # 2015-10-21 07:28:00 UTC


class StoppedWallClock(LoopClock):
    """Loop time as usual; the wall clock stands at 07:28:00 on the day of `DATE`."""

    def wall_ms(self) -> int:
        return THIRTY_S_BEFORE_MS


def log_lines(capsys: Any) -> list[dict[str, Any]]:
    """The JSON log lines written so far (see the `json_logs` fixture), parsed."""
    captured = capsys.readouterr()
    return [json.loads(line) for line in (captured.err + captured.out).splitlines() if line]


BASE_ENV = {"DATABRICKS_HOST": "ws.example.com", "DATABRICKS_TOKEN": "dapi-secret"}


def load_toml(tmp_path: Path, toml: str | None = None, **env: str) -> Settings:
    """Settings from `BASE_ENV` plus `env`, and `toml` as the settings file when given."""
    path = None
    if toml is not None:
        path = tmp_path / "jobs.toml"
        path.write_text(toml)
    return load_settings({**BASE_ENV, **env}, path)


def counting_loader(value: str = "v") -> tuple[Any, list[int]]:
    """A cache loader that takes 0.1 s and answers v1, v2, ...; and the list of its calls."""
    calls = []

    async def load():
        calls.append(1)
        await advance(0.1)
        return f"{value}{len(calls)}"

    return load, calls
