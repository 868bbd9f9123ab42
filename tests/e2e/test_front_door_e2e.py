"""The front door over real sockets: each access mode, each per-job rule on every job route, and
Idempotency-Keys per caller, with the service and the emulator on real Hypercorn.

The rules under test: `etl` may be viewed by everyone and run by `*@example.com`; `report` is
hidden from everyone but `ops`, who may run it; `pipeline` has no rules (everyone, everything).
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import httpx
import msgspec
import pytest

from service.app import create_app
from service.config import check_serving, load_settings
from service.emulator import ScaledClock, Scenario, create_emulator_app
from tests.e2e.servers import running
from tests.factories import sse_events

pytestmark = pytest.mark.looptime(False)
SPEED = 40.0
ALICE_TOKEN = "user-alice-1"  # a user token the demo emulator knows (config/emulator.toml)
CALLERS = (
    "alice@example.com",
    "carol@example.com",
    "eve@evil-example.com",
    "mallory@example.com.evil",
    "ops",
)
SECRETS = {name: f"{name.split('@')[0]}-secret-0123456789" for name in CALLERS}
PARAMS = {"params": {"run_date": "2026-11-29"}}
RULES = """
[access]
{access}

[jobs.etl]
job_id = 1001
task_type = "job"
[jobs.etl.params]
run_date = "date"
[jobs.etl.access]
run = ["*@example.com"]

[jobs.report]
job_id = 1005
task_type = "sql"
[jobs.report.access]
view = ["ops"]

[jobs.pipeline]
job_id = 1007
task_type = "job"
run_as = "{pipeline_run_as}"
"""
ROUTES = [
    ("GET", "/api/jobs/{job}"),
    ("GET", "/api/jobs/{job}/status"),
    ("GET", "/api/jobs/{job}/runs?limit=5"),
    ("GET", "/api/jobs/{job}/runs/{run}"),
    ("GET", "/api/jobs/{job}/runs/{run}/output"),
    ("GET", "/api/jobs/{job}/runs/{run}/events"),
    ("POST", "/api/jobs/{job}/run"),
    ("POST", "/api/jobs/{job}/run?stream=true"),
    ("DELETE", "/api/jobs/{job}/runs/{run}"),
    ("POST", "/api/jobs/{job}/runs/{run}/repair"),
    ("POST", "/api/jobs/{job}/runs/{run}/rerun"),
    ("DELETE", "/api/jobs/{job}/runs"),
]


class Door(msgspec.Struct):
    mode: str
    api: httpx.AsyncClient
    emulator: httpx.AsyncClient

    def as_(self, who: str | None) -> dict[str, str]:
        """The headers that make `who` the caller in this mode (None: no credentials)."""
        if who is None or self.mode == "open":
            return {}
        if self.mode == "token":
            return {"Authorization": f"Bearer {SECRETS[who]}"}
        return {"X-Forwarded-Email": who, "X-Forwarded-Access-Token": ALICE_TOKEN}

    async def call(self, who: str | None, method: str, path: str, **kw: Any) -> httpx.Response:
        return await self.api.request(method, path, headers=self.as_(who), **kw)

    async def calls(self) -> dict[str, int]:
        """What reached the emulator's Jobs API, by endpoint."""
        return (await self.emulator.get("/emulator/stats")).json()["calls"]  # type: ignore[no-any-return]

    async def trigger(self, who: str, job: str = "etl", **headers: str) -> int:
        response = await self.api.post(
            f"/api/jobs/{job}/run", json=PARAMS, headers={**self.as_(who), **headers}
        )
        assert response.status_code == 200, response.text
        return int(response.json()["runId"])


@asynccontextmanager
async def front_door(
    tmp_path: Path, mode: str, *, access: str = "", pipeline_run_as: str = "service_principal"
) -> AsyncIterator[Door]:
    """The emulator and the service in `mode`, with RULES, each on its own loopback port."""
    emulated = msgspec.structs.replace(Scenario.demo(), speed=SPEED)
    emulator_app = create_emulator_app(emulated, clock=ScaledClock(speed=SPEED))
    path = tmp_path / "jobs.toml"
    path.write_text(RULES.format(access=access, pipeline_run_as=pipeline_run_as))
    async with running(emulator_app) as emulator_url:
        environ = {
            "DATABRICKS_HOST": emulator_url,
            "DATABRICKS_TOKEN": "dapi-local-dev",
            "HOST": "127.0.0.1",
            "ACCESS_MODE": mode,
            "SIDECAR_API_KEYS": ",".join(f"{name}:{SECRETS[name]}" for name in CALLERS),
        }
        settings = load_settings(environ, path)
        check_serving(settings)
        fast = {"poll_interval_ms": 50, "poll_floor_ms": 20, "poll_max_ms": 100}
        settings = msgspec.structs.replace(settings, **fast)
        async with (
            running(create_app(settings)) as url,
            httpx.AsyncClient(base_url=url, timeout=20) as api,
            httpx.AsyncClient(base_url=emulator_url) as emulator,
        ):
            yield Door(mode=mode, api=api, emulator=emulator)


def statuses(text: str) -> list[str]:
    return [msgspec.json.decode(e["data"])["status"] for e in sse_events(text) if "data" in e]


# --- who is calling -------------------------------------------------------------------------------


async def test_token_mode_admits_a_right_key_and_refuses_a_wrong_or_missing_one(tmp_path):
    async with front_door(tmp_path, "token") as door:
        right = await door.call("ops", "GET", "/api/jobs/report")
        wrong = await door.api.post(
            "/api/jobs/pipeline/run", json={}, headers={"Authorization": "Bearer " + "x" * 24}
        )
        missing = await door.api.post("/api/jobs/pipeline/run", json={})
        calls = await door.calls()
    assert right.status_code == 200
    assert right.json()["job_id"] == 1005
    for refused in (wrong, missing):
        assert refused.status_code == 401
        assert refused.json() == {
            "error": "Authentication required: send Authorization: Bearer <API key>",
            "code": "UNAUTHENTICATED",
            "plugin": "jobs",
        }
        assert refused.headers["WWW-Authenticate"] == 'Bearer realm="jobs-sidecar"'
    assert calls == {"jobs/get": 1}  # the refused triggers reached nothing


async def test_apps_mode_admits_the_user_the_proxy_names_and_refuses_no_name(tmp_path):
    async with front_door(tmp_path, "apps") as door:
        run_id = await door.trigger("alice@example.com")
        nameless = await door.api.post("/api/jobs/etl/run", json=PARAMS)
        calls = await door.calls()
    assert run_id > 0
    assert nameless.status_code == 401
    assert nameless.json()["code"] == "UNAUTHENTICATED"
    assert "WWW-Authenticate" not in nameless.headers
    assert calls["run-now"] == 1


async def test_forged_forwarded_headers_from_an_untrusted_peer_are_401_and_reach_nothing(
    tmp_path,
):
    # Loopback (where this test connects from) is outside the trusted proxies.
    access = 'trusted_proxies = ["10.0.0.0/8"]'
    async with front_door(tmp_path, "apps", access=access, pipeline_run_as="user") as door:
        forged = door.as_("alice@example.com")  # the email, and a user token for run_as user
        answers = [
            await door.api.post("/api/jobs/etl/run", json=PARAMS, headers=forged),
            await door.api.post("/api/jobs/pipeline/run", json={}, headers=forged),
            await door.api.get("/api/jobs/pipeline/status", headers=forged),
            await door.api.get("/api/jobs", headers=forged),
        ]
        calls = await door.calls()
    assert [a.status_code for a in answers] == [401] * 4
    assert {a.json()["code"] for a in answers} == {"UNAUTHENTICATED"}
    assert calls == {}  # neither the Jobs API nor SCIM Me heard of the forged user's token


async def test_run_as_user_acts_with_the_forwarded_token_from_a_trusted_proxy(tmp_path):
    async with front_door(tmp_path, "apps", pipeline_run_as="user") as door:
        run_id = await door.trigger("carol@example.com", job="pipeline")
        stats = (await door.emulator.get("/emulator/stats")).json()
    assert run_id > 0
    assert set(stats["tokens"]) == {ALICE_TOKEN}  # the user's token, not the service's
    assert stats["calls"]["preview/scim/v2/Me"] == 1


async def test_open_mode_calls_everyone_anonymous_and_the_rules_still_apply(tmp_path):
    async with front_door(tmp_path, "open") as door:
        listing = await door.call(None, "GET", "/api/jobs")
        hidden = await door.call(None, "GET", "/api/jobs/report")
        forbidden = await door.api.post("/api/jobs/etl/run", json=PARAMS)
        run_id = await door.trigger("anyone", job="pipeline")
    assert [(j["key"], j["canRun"]) for j in listing.json()["jobs"]] == [
        ("etl", False),  # run = ["*@example.com"]: `anonymous` is no address
        ("pipeline", True),
    ]
    assert (hidden.status_code, forbidden.status_code) == (404, 403)
    assert run_id > 0


# --- what the caller may do -----------------------------------------------------------------------


async def test_the_listing_shows_only_what_the_caller_may_view_with_can_run(tmp_path):
    async with front_door(tmp_path, "token") as door:
        seen = {
            who: [
                (j["key"], j["canRun"])
                for j in (await door.call(who, "GET", "/api/jobs")).json()["jobs"]
            ]
            for who in ("alice@example.com", "eve@evil-example.com", "ops")
        }
    assert seen == {
        "alice@example.com": [("etl", True), ("pipeline", True)],
        "eve@evil-example.com": [("etl", False), ("pipeline", True)],
        "ops": [("etl", False), ("report", True), ("pipeline", True)],
    }


@pytest.mark.parametrize("who", ["eve@evil-example.com", "mallory@example.com.evil"])
async def test_a_domain_rule_is_the_whole_domain_not_a_suffix(tmp_path, who):
    async with front_door(tmp_path, "token") as door:
        allowed = await door.trigger("alice@example.com")
        refused = await door.call(who, "POST", "/api/jobs/etl/run", json=PARAMS)
        calls = await door.calls()
    assert allowed > 0
    assert refused.status_code == 403
    assert refused.json() == {
        "error": 'You may view job "etl" but not run or cancel its runs',
        "code": "FORBIDDEN",
        "plugin": "jobs",
    }
    assert calls["run-now"] == 1


@pytest.mark.parametrize(("method", "route"), [r for r in ROUTES if r[0] != "GET"])
async def test_a_viewer_who_may_not_run_is_403_and_nothing_reaches_databricks(
    tmp_path, method, route
):
    async with front_door(tmp_path, "apps") as door:
        run_id = await door.trigger("alice@example.com")
        before = await door.calls()
        refused = await door.call(
            "eve@evil-example.com", method, route.format(job="etl", run=run_id), json=PARAMS
        )
        after = await door.calls()
    assert refused.status_code == 403
    assert refused.json()["code"] == "FORBIDDEN"
    assert after == before


async def test_a_viewer_reads_and_watches_a_run_they_may_not_start(tmp_path):
    async with front_door(tmp_path, "token") as door:
        run_id = await door.trigger("alice@example.com")
        eve = "eve@evil-example.com"
        read = await door.call(eve, "GET", f"/api/jobs/etl/runs/{run_id}")
        watched = await door.call(eve, "GET", f"/api/jobs/etl/runs/{run_id}/events")
    assert read.json()["run_id"] == run_id
    assert statuses(watched.text)[-1] == "TERMINATED"


@pytest.mark.parametrize(("method", "route"), ROUTES)
async def test_a_job_the_caller_may_not_view_is_the_unknown_job_404_on_every_route(
    tmp_path, method, route
):
    async with front_door(tmp_path, "token") as door:
        run_id = await door.trigger("ops", job="report")
        before = await door.calls()
        eve = "eve@evil-example.com"
        hidden = await door.call(eve, method, route.format(job="report", run=run_id), json={})
        unknown = await door.call(eve, method, route.format(job="nosuch", run=run_id), json={})
        after = await door.calls()
    assert (hidden.status_code, unknown.status_code) == (404, 404)
    assert hidden.json() == {
        "error": 'Unknown job "report"',
        "code": "UNKNOWN_JOB",
        "plugin": "jobs",
    }
    assert hidden.text == unknown.text.replace("nosuch", "report")
    assert hidden.headers.keys() == unknown.headers.keys()
    assert after == before


async def test_the_one_who_may_run_a_hidden_job_runs_and_cancels_it(tmp_path):
    async with front_door(tmp_path, "token") as door:
        run_id = await door.trigger("ops", job="report")
        cancelled = await door.call("ops", "DELETE", f"/api/jobs/report/runs/{run_id}")
    assert cancelled.status_code == 204


# --- Idempotency-Keys are per caller --------------------------------------------------------------


async def test_two_callers_with_the_same_idempotency_key_get_a_run_each(tmp_path):
    key = {"Idempotency-Key": "order-17"}
    async with front_door(tmp_path, "token") as door:
        alice = await door.trigger("alice@example.com", **key)
        carol = await door.trigger("carol@example.com", **key)
        alice_again = await door.trigger("alice@example.com", **key)
        calls = await door.calls()
    assert alice != carol
    assert alice_again == alice
    assert calls["run-now"] == 2


# --- /metrics -------------------------------------------------------------------------------------


async def test_metrics_auth_asks_for_a_caller_and_the_probes_stay_open(tmp_path):
    async with front_door(tmp_path, "token", access='metrics = "auth"') as door:
        refused = await door.api.get("/metrics")
        allowed = await door.call("ops", "GET", "/metrics")
        probes = [await door.api.get(path) for path in ("/livez", "/readyz")]
    assert refused.status_code == 401
    assert refused.headers["WWW-Authenticate"] == 'Bearer realm="jobs-sidecar"'
    assert allowed.status_code == 200
    assert "sidecar_open_streams 0.0" in allowed.text
    assert [p.status_code for p in probes] == [200, 200]


async def test_metrics_open_by_default(tmp_path):
    async with front_door(tmp_path, "token") as door:
        response = await door.api.get("/metrics")
    assert response.status_code == 200
    assert "sidecar_open_streams" in response.text
