"""One caller, one name, over real sockets: `alice@`, `Alice@` and `aLice@` are one caller.

The service runs in apps mode behind a "proxy" on loopback (a trusted peer) that names the user
in `X-Forwarded-Email`, spelt three ways; the emulator's clock is manual, so runs stay RUNNING
and their event streams stay open.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import AsyncExitStack, asynccontextmanager

import httpx
import msgspec
import pytest

from service.app import create_app
from service.config import check_serving, load_settings
from service.emulator import Scenario, create_emulator_app
from service.emulator.clock import ManualClock
from service.settings_file import LimitsTable
from tests.e2e.servers import DEMO, running
from tests.factories import log_lines

pytestmark = pytest.mark.looptime(False)
SPELLINGS = ("alice@example.com", "Alice@example.com", "aLice@Example.COM")
PARAMS = {"params": {"run_date": "2026-12-03"}}


class Door(msgspec.Struct):
    api: httpx.AsyncClient
    emulator: httpx.AsyncClient

    async def run_nows(self) -> int:
        stats = (await self.emulator.get("/emulator/stats")).json()
        return int(stats["calls"].get("run-now", 0))


def as_(email: str, **headers: str) -> dict[str, str]:
    return {"x-forwarded-email": email, **headers}


@asynccontextmanager
async def door(limits: LimitsTable) -> AsyncIterator[Door]:
    async with running(create_emulator_app(Scenario.demo(), clock=ManualClock())) as emulator:
        environ = {
            "DATABRICKS_HOST": emulator,
            "DATABRICKS_TOKEN": "dapi-local-dev",
            "HOST": "127.0.0.1",
            "ACCESS_MODE": "apps",
        }
        settings = load_settings(environ, DEMO)
        check_serving(settings)
        settings = msgspec.structs.replace(
            settings, limits=limits, poll_interval_ms=50, poll_floor_ms=20, heartbeat_ms=1000
        )
        async with (
            running(create_app(settings)) as url,
            httpx.AsyncClient(base_url=url, timeout=10) as api,
            httpx.AsyncClient(base_url=emulator) as emulator_api,
        ):
            yield Door(api=api, emulator=emulator_api)


async def test_three_spellings_share_one_trigger_limit():
    async with door(LimitsTable(trigger="2/hour")) as d:
        answers = [
            await d.api.post("/api/jobs/etl/run", json=PARAMS, headers=as_(email))
            for email in SPELLINGS
        ]
        run_nows = await d.run_nows()
    assert [a.status_code for a in answers] == [200, 200, 429]
    assert answers[2].json()["code"] == "RATE_LIMITED"
    assert run_nows == 2


async def test_three_spellings_share_one_idempotency_scope(json_logs):
    key = {"idempotency-key": "order-17"}
    async with door(LimitsTable()) as d:
        answers = [
            await d.api.post("/api/jobs/etl/run", json=PARAMS, headers=as_(email, **key))
            for email in SPELLINGS
        ]
        run_nows = await d.run_nows()
    assert [a.status_code for a in answers] == [200, 200, 200]
    assert len({a.json()["runId"] for a in answers}) == 1
    assert run_nows == 1
    audited = [line for line in log_lines(json_logs) if line["event"] == "audit"]
    assert [(line["caller"], line["outcome"]) for line in audited] == [
        ("alice@example.com", "started"),
        ("alice@example.com", "reused"),
        ("alice@example.com", "reused"),
    ]


async def test_three_spellings_share_one_stream_quota():
    async with door(LimitsTable(streams_per_caller=2)) as d:
        response = await d.api.post("/api/jobs/etl/run", json=PARAMS, headers=as_(SPELLINGS[0]))
        events = f"/api/jobs/etl/runs/{response.json()['runId']}/events"
        async with AsyncExitStack() as streams:
            held = [
                await streams.enter_async_context(d.api.stream("GET", events, headers=as_(email)))
                for email in SPELLINGS[:2]
            ]
            third = await streams.enter_async_context(
                d.api.stream("GET", events, headers=as_(SPELLINGS[2]))
            )
            refusal = await third.aread() if third.status_code == 429 else b""
    assert [stream.status_code for stream in held] == [200, 200]
    assert third.status_code == 429
    assert msgspec.json.decode(refusal)["error"].startswith("Too many open event streams")
