"""The front door's limits over real sockets: CORS, rate limits, the per-caller stream cap.

The service (token mode, two callers) and the emulator run on real Hypercorn on loopback. The
emulator's clock is manual: runs stay RUNNING, so streams stay open, until a test moves it.
Rate windows are an hour long (the `limits` library counts on the wall clock).
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import httpx
import msgspec
import pytest

from service.app import create_app
from service.emulator import Scenario, create_emulator_app
from service.emulator.clock import ManualClock
from service.settings.config import load_settings
from service.settings.toml_file import JobLimits, LimitsTable
from tests.e2e.servers import running

pytestmark = pytest.mark.looptime(False)
DEMO = Path(__file__).resolve().parents[2] / "config" / "demo.toml"
APP = "https://app.example.com"
EVIL = "https://evil.example"
KEYS = {"alice": "alice-key-" + "a" * 20, "bob": "bob-key-" + "b" * 20}
PARAMS = {"params": {"run_date": "2026-12-03"}}
LIMITS = LimitsTable(trigger="2/hour", read="1000/hour", streams_per_caller=2)


def as_caller(name: str, **headers: str) -> dict[str, str]:
    return {"authorization": f"Bearer {KEYS[name]}", **headers}


class FrontDoor(msgspec.Struct):
    api: httpx.AsyncClient
    emulator: httpx.AsyncClient
    draining: asyncio.Event

    async def run_nows(self) -> int:
        stats = (await self.emulator.get("/emulator/stats")).json()
        return int(stats["calls"].get("run-now", 0))

    async def trigger(self, caller: str = "alice", job: str = "etl") -> httpx.Response:
        return await self.api.post(f"/api/jobs/{job}/run", json=PARAMS, headers=as_caller(caller))

    async def metric(self, name: str) -> float:
        for line in (await self.api.get("/metrics")).text.splitlines():
            if line.startswith(name + " "):
                return float(line.split()[1])
        raise AssertionError(f"no metric {name}")

    async def finish_runs(self) -> None:
        response = await self.emulator.post("/emulator/clock/advance", json={"ms": 3_600_000})
        assert response.status_code < 300


@asynccontextmanager
async def front_door(
    limits: LimitsTable = LIMITS, *, job_limits: dict[str, str] | None = None, **overrides: Any
) -> AsyncIterator[FrontDoor]:
    emulator_app = create_emulator_app(Scenario.demo(), clock=ManualClock())
    environ = {
        "DATABRICKS_TOKEN": "dapi-local-dev",
        "ACCESS_MODE": "token",
        "SIDECAR_API_KEYS": ",".join(f"{name}:{key}" for name, key in KEYS.items()),
    }
    draining = asyncio.Event()
    async with running(emulator_app) as emulator_url:
        settings = load_settings({"DATABRICKS_HOST": emulator_url, **environ}, DEMO)
        jobs = {
            key: msgspec.structs.replace(job, limits=JobLimits(trigger=rate))
            for key, rate in (job_limits or {}).items()
            if (job := settings.jobs[key])
        }
        settings = msgspec.structs.replace(
            settings,
            access=msgspec.structs.replace(settings.access, cors_origins=(APP,)),
            allowed_origins=(APP,),
            limits=limits,
            jobs=settings.jobs | jobs,
            poll_interval_ms=50,
            poll_floor_ms=20,
            poll_max_ms=100,
            heartbeat_ms=1000,
            **overrides,
        )
        async with (
            running(create_app(settings, draining=draining)) as url,
            httpx.AsyncClient(base_url=url, timeout=10) as api,
            httpx.AsyncClient(base_url=emulator_url) as emulator,
        ):
            yield FrontDoor(api=api, emulator=emulator, draining=draining)


def access_control(response: httpx.Response) -> dict[str, str]:
    return {k: v for k, v in response.headers.items() if k.startswith("access-control-")}


async def test_cors_answers_the_allowed_origin_and_says_nothing_to_another():
    preflight = {"access-control-request-method": "POST"}
    preflight["access-control-request-headers"] = "content-type,idempotency-key,authorization"
    async with front_door() as door:
        allowed = await door.api.options("/api/jobs/etl/run", headers={"origin": APP, **preflight})
        refused = await door.api.options("/api/jobs/etl/run", headers={"origin": EVIL, **preflight})
        read = await door.api.get("/api/jobs/etl/status", headers=as_caller("alice", origin=APP))
        foreign = await door.api.get(
            "/api/jobs/etl/status", headers=as_caller("alice", origin=EVIL)
        )
    assert allowed.status_code == 200
    assert allowed.headers["access-control-allow-origin"] == APP
    assert allowed.headers["access-control-allow-credentials"] == "true"
    assert (refused.status_code, refused.json()["code"]) == (403, "CROSS_ORIGIN")
    assert access_control(refused) == {}
    assert read.headers["access-control-allow-origin"] == APP
    assert "ratelimit-remaining" in read.headers["access-control-expose-headers"].lower()
    assert foreign.status_code == 200
    assert access_control(foreign) == {}


async def test_a_cross_site_text_plain_post_from_a_refused_origin_is_403_and_starts_nothing():
    """What a form or fetch(no-cors) on another site sends: no preflight, the visitor's creds."""
    forged = as_caller("alice", origin=EVIL, **{"content-type": "text/plain"})
    allowed = as_caller("alice", origin=APP, **{"sec-fetch-site": "cross-site"})
    async with front_door() as door:
        refused = await door.api.post("/api/jobs/etl/run", content=b"{}", headers=forged)
        cancel = await door.api.delete("/api/jobs/etl/runs/1", headers=forged)
        sent_after_refusals = await door.run_nows()
        started = await door.api.post("/api/jobs/etl/run", json=PARAMS, headers=allowed)
        sent = await door.run_nows()
    for response in (refused, cancel):
        assert (response.status_code, response.json()["code"]) == (403, "CROSS_ORIGIN")
        assert access_control(response) == {}
    assert sent_after_refusals == 0
    assert started.status_code == 200
    assert started.headers["access-control-allow-origin"] == APP
    assert sent == 1


async def test_a_trigger_over_its_rate_is_429_never_sent_and_readable_by_the_page():
    async with front_door() as door:
        ok = [await door.trigger() for _ in range(2)]
        refused = await door.api.post(
            "/api/jobs/etl/run", json=PARAMS, headers=as_caller("alice", origin=APP)
        )
        sent = await door.run_nows()
        other_caller = await door.trigger("bob")
        refusals = await door.metric('sidecar_rate_limited_total{limit="trigger"}')
    assert [r.status_code for r in ok] == [200, 200]
    assert [r.headers["ratelimit-remaining"] for r in ok] == ["1", "0"]
    assert (refused.status_code, refused.json()["code"]) == (429, "RATE_LIMITED")
    assert refused.headers["ratelimit-limit"] == "2"
    assert refused.headers["ratelimit-remaining"] == "0"
    assert 0 < int(refused.headers["retry-after"]) <= 3600
    assert refused.headers["ratelimit-reset"] == refused.headers["retry-after"]
    assert refused.headers["access-control-allow-origin"] == APP  # the page can read why
    assert sent == 2
    assert other_caller.status_code == 200
    assert refusals == 1


async def test_a_jobs_own_trigger_rate_overrides_the_limits_table():
    report = {"params": {"region": "emea", "year": 2026}}
    async with front_door(job_limits={"report": "1/hour"}) as door:
        reports = [
            await door.api.post("/api/jobs/report/run", json=report, headers=as_caller("alice"))
            for _ in range(2)
        ]
        etl = [(await door.trigger()).status_code for _ in range(2)]
        sent = await door.run_nows()
    assert [r.status_code for r in reports] == [200, 429]
    assert reports[1].headers["ratelimit-limit"] == "1"
    assert etl == [200, 200]
    assert sent == 3


async def test_reads_over_the_read_rate_are_429_for_that_caller_only():
    async with front_door(LimitsTable(read="3/hour")) as door:
        reads = [
            await door.api.get("/api/jobs/etl/runs", headers=as_caller("alice")) for _ in range(4)
        ]
        bobs = await door.api.get("/api/jobs/etl/runs", headers=as_caller("bob"))
    assert [r.status_code for r in reads] == [200, 200, 200, 429]
    assert reads[-1].headers["ratelimit-limit"] == "3"
    assert int(reads[-1].headers["retry-after"]) > 0
    assert bobs.status_code == 200


class Watch:
    """An open stream: its response, and the rest of its bytes on demand."""

    def __init__(self, response: httpx.Response) -> None:
        self.response = response
        self.status_code = response.status_code
        # One iterator for the stream's life: a dropped one would close the connection.
        self.chunks = response.aiter_raw()

    async def first(self) -> bytes:
        return await anext(self.chunks)

    async def rest(self) -> bytes:
        return b"".join([chunk async for chunk in self.chunks])


@asynccontextmanager
async def watching(door: FrontDoor, caller: str, run_id: int) -> AsyncIterator[Watch]:
    """An open watch stream (its first bytes read), closed by the client when the block ends."""
    url = f"/api/jobs/etl/runs/{run_id}/events"
    async with door.api.stream("GET", url, headers=as_caller(caller)) as response:
        watch = Watch(response)
        if response.status_code == 200:
            await watch.first()
        yield watch


async def watch_once(door: FrontDoor, caller: str, run_id: int) -> httpx.Response:
    """A watch read to its end: for refusals, and streams that end by themselves."""
    url = f"/api/jobs/etl/runs/{run_id}/events"
    return await door.api.get(url, headers=as_caller(caller))


async def eventually(check: Any, within_s: float = 5.0) -> None:
    """Poll a real server until `check()` holds (no event to wait on from outside it)."""
    deadline = asyncio.get_running_loop().time() + within_s
    while not await check():
        assert asyncio.get_running_loop().time() < deadline, "condition not met in time"
        await asyncio.sleep(0.01)


async def test_one_caller_at_its_stream_cap_is_429_while_another_is_served():
    async with front_door() as door:
        run_id = (await door.trigger()).json()["runId"]
        async with watching(door, "alice", run_id) as first, watching(door, "alice", run_id):
            third = await watch_once(door, "alice", run_id)
            sent = await door.run_nows()
            streamed_run = await door.api.post(
                "/api/jobs/etl/run?stream=true", json=PARAMS, headers=as_caller("alice")
            )
            not_started = await door.run_nows() == sent
            async with watching(door, "bob", run_id) as bobs:
                bob_status = bobs.status_code
            assert first.status_code == 200
        # The client went: alice's places come back.
        await eventually(lambda: _places_are(door, 0))
        async with watching(door, "alice", run_id) as again:
            again_status = again.status_code
    assert (third.status_code, third.json()["code"]) == (429, "RATE_LIMITED")
    assert third.headers["retry-after"] == "5"
    assert third.headers["ratelimit-limit"] == "2"
    assert third.headers["ratelimit-remaining"] == "0"
    assert (streamed_run.status_code, streamed_run.json()["code"]) == (429, "RATE_LIMITED")
    assert not_started
    assert bob_status == 200
    assert again_status == 200


async def _places_are(door: FrontDoor, count: int) -> bool:
    return await door.metric("sidecar_caller_stream_places") == count


async def test_a_place_comes_back_when_the_stream_ends_with_its_final_event():
    async with front_door(LimitsTable(streams_per_caller=1)) as door:
        run_id = (await door.trigger()).json()["runId"]
        async with watching(door, "alice", run_id) as stream:
            await door.finish_runs()
            body = await stream.rest()
        await eventually(lambda: _places_are(door, 0))
        again = await watch_once(door, "alice", run_id)
    assert b'"TERMINATED"' in body
    assert again.status_code == 200  # the final event again, and the place given back again


async def test_a_place_comes_back_when_the_stream_ends_in_error():
    async with front_door(LimitsTable(streams_per_caller=1)) as door:
        run_id = (await door.trigger()).json()["runId"]
        async with watching(door, "alice", run_id) as stream:
            fault = {"endpoint": "runs/get", "status": 500, "count": 1000}
            assert (await door.emulator.post("/emulator/faults", json=fault)).status_code < 300
            body = await stream.rest()
        await door.emulator.delete("/emulator/faults")
        await eventually(lambda: _places_are(door, 0))
        async with watching(door, "alice", run_id) as again:
            again_status = again.status_code
    assert b"event: error" in body
    assert again_status == 200


async def test_places_come_back_when_shutdown_ends_the_streams():
    async with front_door() as door:
        run_id = (await door.trigger()).json()["runId"]
        async with watching(door, "alice", run_id) as one, watching(door, "bob", run_id) as two:
            assert await door.metric("sidecar_caller_stream_places") == 2
            door.draining.set()
            bodies = [await stream.rest() for stream in (one, two)]
        await eventually(lambda: _places_are(door, 0))
    assert all(b"event: shutdown" in body for body in bodies)


async def test_the_global_stream_cap_still_answers_503():
    async with front_door(LimitsTable(streams_per_caller=5), max_streams=1) as door:
        run_id = (await door.trigger()).json()["runId"]
        async with watching(door, "alice", run_id):
            bobs = await watch_once(door, "bob", run_id)
    assert (bobs.status_code, bobs.json()["code"]) == (503, "UNAVAILABLE")
