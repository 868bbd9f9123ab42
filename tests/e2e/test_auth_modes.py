"""Every auth mode over real sockets: PAT, OAuth M2M and run_as = "user", each on every route,
with the service and the emulator on real Hypercorn; then token expiry mid-stream, and faults of
the token endpoint and of SCIM `Me` as a client sees them.

The emulator's clock runs 40x real time: a run takes about a third of a second.
"""

from __future__ import annotations

import itertools
import json
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import httpx
import msgspec
import pytest

from service.app import create_app
from service.config import Settings, load_settings
from service.emulator import ScaledClock, Scenario, create_emulator_app
from service.emulator.scenario import Timings
from tests.e2e.servers import running
from tests.factories import sse_events

pytestmark = pytest.mark.looptime(False)
DEMO = Path(__file__).resolve().parents[2] / "config" / "demo.toml"
SPEED = 40.0
PAT = {"DATABRICKS_TOKEN": "dapi-local-dev"}
M2M = {"DATABRICKS_CLIENT_ID": "local-client", "DATABRICKS_CLIENT_SECRET": "local-secret"}
ALICE, ALICE_REFRESHED, BOB = "user-alice-1", "user-alice-2", "user-bob-1"  # emulator.toml
PARAMS = {"params": {"run_date": "2026-11-29"}}


class Stack(msgspec.Struct):
    api: httpx.AsyncClient
    emulator: httpx.AsyncClient

    async def stats(self) -> dict[str, Any]:
        return (await self.emulator.get("/emulator/stats")).json()  # type: ignore[no-any-return]

    async def fault(self, **rule: Any) -> None:
        response = await self.emulator.post("/emulator/faults", json=rule)
        assert response.status_code < 300, response.text


def service_settings(emulator_url: str, mode: str, **overrides: Any) -> Settings:
    environ = {"DATABRICKS_HOST": emulator_url, **(M2M if mode == "oauth-m2m" else PAT)}
    if mode == "user":  # a user's token is taken only from the Apps proxy (loopback: trusted)
        environ["ACCESS_MODE"] = "apps"
    settings = load_settings(environ | overrides.pop("environ", {}), DEMO)
    if mode == "user":
        jobs = {k: msgspec.structs.replace(j, run_as="user") for k, j in settings.jobs.items()}
        settings = msgspec.structs.replace(settings, jobs=jobs)
    fast = {"poll_interval_ms": 50, "poll_floor_ms": 20, "poll_max_ms": 100, "timeout_ms": 2000}
    return msgspec.structs.replace(settings, **{**fast, **overrides})


@asynccontextmanager
async def stack(
    mode: str, *, user: str = ALICE, scenario: dict[str, Any] | None = None, **overrides: Any
) -> AsyncIterator[Stack]:
    """The emulator and the service in `mode`, each on its own loopback port."""
    emulated = msgspec.structs.replace(Scenario.demo(), speed=SPEED, **(scenario or {}))
    emulator_app = create_emulator_app(emulated, clock=ScaledClock(speed=SPEED))
    headers = {}
    if mode == "user":
        headers = {"X-Forwarded-Email": "alice@example.com", "X-Forwarded-Access-Token": user}
    async with running(emulator_app) as emulator_url:
        settings = service_settings(emulator_url, mode, **overrides)
        async with (
            running(create_app(settings)) as url,
            httpx.AsyncClient(base_url=url, timeout=20, headers=headers) as api,
            httpx.AsyncClient(base_url=emulator_url) as emulator,
        ):
            yield Stack(api=api, emulator=emulator)


def statuses(text: str) -> list[str]:
    return [
        json.loads(e["data"])["status"] for e in sse_events(text) if e.get("event") == "message"
    ]


@pytest.mark.parametrize("mode", ["pat", "oauth-m2m", "user"])
async def test_every_route_in_every_auth_mode(mode):
    async with stack(mode) as s:
        api = s.api
        assert "etl" in {j["key"] for j in (await api.get("/api/jobs")).json()["jobs"]}
        assert (await api.get("/api/jobs/etl")).json()["job_id"] == 1001
        run_id = (await api.post("/api/jobs/etl/run", json=PARAMS)).json()["runId"]
        assert (await api.get("/api/jobs/etl/status")).json()["run"]["run_id"] == run_id
        assert (await api.get(f"/api/jobs/etl/runs/{run_id}")).json()["run_id"] == run_id
        watched = await api.get(f"/api/jobs/etl/runs/{run_id}/events")
        assert statuses(watched.text)[-1] == "TERMINATED"
        assert run_id in [r["run_id"] for r in (await api.get("/api/jobs/etl/runs")).json()["runs"]]
        output = (await api.get(f"/api/jobs/etl/runs/{run_id}/output")).json()
        assert output["notebook_output"]["result"] == '{"rows_written": 120443}'
        streamed = await api.post("/api/jobs/etl/run?stream=true", json=PARAMS)
        assert statuses(streamed.text)[-1] == "TERMINATED"
        assert (await api.delete(f"/api/jobs/etl/runs/{run_id}")).status_code == 204
        stats = await s.stats()
    assert stats["refused"] == 0
    used = set(stats["tokens"])
    if mode == "pat":
        assert used == {"dapi-local-dev"}
    elif mode == "oauth-m2m":
        assert len(used) == len(stats["token_grants"]) == stats["calls"]["oidc/token"] == 1
        assert next(iter(used)).startswith("eyJ.emulator.")
    else:
        assert used == {ALICE}
        assert stats["calls"]["preview/scim/v2/Me"] == 1  # once for the token, not per call


async def test_an_oauth_token_expiring_mid_stream_is_refreshed_before_it_expires():
    # Tokens live 40 s on the emulator's clock (1 s of real time); the run, 1.6 s of real time.
    slow = Timings(queued_ms=0, pending_ms=2000, running_ms=60_000, terminating_ms=1000)
    async with stack("oauth-m2m", scenario={"token_ttl_s": 40, "timings": slow}) as s:
        response = await s.api.post("/api/jobs/etl/run?stream=true", json=PARAMS)
        stats = await s.stats()
    assert statuses(response.text)[-1] == "TERMINATED"
    grants = stats["token_grants"]
    assert len(grants) >= 3
    for earlier, later in itertools.pairwise(grants):
        assert later["issued_ms"] < earlier["expires_ms"]  # each renewed before it ran out
    assert stats["refused"] == 0  # no call ever went out with an expired token


@pytest.mark.parametrize(
    "fault",
    [
        {"status": 503},
        {"status": 429, "retry_after": 0, "count": 2},
        {"drop": True},
    ],
    ids=["503", "429x2", "dropped"],
)
async def test_a_failing_token_endpoint_is_retried(fault):
    async with stack("oauth-m2m") as s:
        await s.fault(endpoint="oidc/token", **fault)
        response = await s.api.get("/api/jobs/etl")
        stats = await s.stats()
    assert response.status_code == 200
    assert stats["calls"]["oidc/token"] == fault.get("count", 1) + 1
    assert stats["calls"]["jobs/get"] == 1


async def test_a_token_endpoint_slower_than_the_attempt_is_asked_again():
    async with stack("oauth-m2m", timeout_ms=300) as s:
        await s.fault(endpoint="oidc/token", latency_ms=1000)
        response = await s.api.get("/api/jobs/etl")
        stats = await s.stats()
    assert response.status_code == 200
    assert stats["calls"]["oidc/token"] == 2


@pytest.mark.parametrize(
    ("how", "environ"),
    [
        ("injected 401", {}),
        ("injected 400", {}),
        ("wrong secret", {"DATABRICKS_CLIENT_SECRET": "not-the-secret"}),
    ],
)
async def test_refused_client_credentials_are_502_upstream_auth_at_once(how, environ):
    async with stack("oauth-m2m", environ=environ) as s:
        if how.startswith("injected"):
            await s.fault(endpoint="oidc/token", status=int(how[-3:]), count=5)
        response = await s.api.get("/api/jobs/etl/status")
        stats = await s.stats()
    assert response.status_code == 502
    assert response.json() == {
        "error": "Databricks refused the service's credentials",
        "code": "UPSTREAM_AUTH",
        "plugin": "jobs",
    }
    assert stats["calls"] == {"oidc/token": 1}  # not retried, and no Jobs API call


async def test_the_same_user_after_a_token_refresh_gets_the_same_run():
    key = {"Idempotency-Key": "order-17"}
    async with stack("user") as s:
        first = await s.api.post("/api/jobs/etl/run", json=PARAMS, headers=key)
        refreshed = await s.api.post(
            "/api/jobs/etl/run",
            json=PARAMS,
            headers={**key, "X-Forwarded-Access-Token": ALICE_REFRESHED},
        )
        bob = await s.api.post(
            "/api/jobs/etl/run", json=PARAMS, headers={**key, "X-Forwarded-Access-Token": BOB}
        )
        runs = (await s.api.get("/api/jobs/etl/runs")).json()["runs"]
        stats = await s.stats()
    assert first.json() == refreshed.json()
    assert bob.json() != first.json()
    assert sorted(r["run_id"] for r in runs) == sorted([first.json()["runId"], bob.json()["runId"]])
    assert stats["calls"]["preview/scim/v2/Me"] == 3  # once per token


async def test_a_refused_user_token_is_401_and_reaches_no_job():
    async with stack("user", user="dapi-revoked") as s:
        response = await s.api.get("/api/jobs/etl/status")
        stats = await s.stats()
    assert response.status_code == 401
    assert response.json()["code"] == "USER_TOKEN_REFUSED"
    assert "runs/list" not in stats["calls"]


async def test_a_failing_me_is_retried_and_never_falls_back_to_the_token():
    async with stack("user") as s:
        await s.fault(endpoint="preview/scim/v2/Me", status=503)
        ok = await s.api.get("/api/jobs/etl/status")
        await s.fault(endpoint="preview/scim/v2/Me", status=429, retry_after=0, count=10)
        down = await s.api.get(
            "/api/jobs/etl/status", headers={"X-Forwarded-Access-Token": ALICE_REFRESHED}
        )
        stats = await s.stats()
    assert ok.status_code == 200
    assert down.status_code == 503
    assert down.json()["code"] == "UPSTREAM_THROTTLED"
    assert stats["calls"]["preview/scim/v2/Me"] == 2 + 3  # the read tier's three attempts
    assert stats["calls"]["runs/list"] == 1  # only the call made as a known user
