"""The audit line over real sockets: every trigger and cancel, however it ends, writes exactly one.

The service (token mode) and the emulator on real Hypercorn on loopback; each case sends one write
(after whatever it needs first) and counts the `audit` lines that write left. `alice` may run
`etl`; `bob` may view it but not run it. The emulator's clock is manual: runs stay RUNNING.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import httpx
import msgspec
import pytest

from service import audit
from service.app import create_app
from service.config import check_serving, load_settings
from service.emulator import Scenario, create_emulator_app
from service.emulator.clock import ManualClock
from tests.e2e.servers import running
from tests.factories import log_lines

pytestmark = pytest.mark.looptime(False)
KEYS = {"alice": "alice-key-" + "a" * 20, "bob": "bob-key-" + "b" * 20}
PARAMS = {"params": {"run_date": "2026-12-03"}}
MAX_BODY = 1024
TOML = """
[limits]
trigger = "2/hour"
read = "1000/hour"

[jobs.etl]
job_id = 1001
task_type = "job"
[jobs.etl.params]
run_date = "date"
[jobs.etl.access]
run = ["alice"]
"""


class Door(msgspec.Struct):
    url: str
    api: httpx.AsyncClient

    async def trigger(self, who: str | None = "alice", **kw: Any) -> httpx.Response:
        kw.setdefault("json", PARAMS)
        headers = {**as_(who), **kw.pop("headers", {})}
        return await self.api.post("/api/jobs/etl/run", headers=headers, **kw)

    async def cancel(
        self, run_id: int | str, who: str | None = "alice", **h: str
    ) -> httpx.Response:
        return await self.api.delete(f"/api/jobs/etl/runs/{run_id}", headers={**as_(who), **h})

    async def started(self) -> int:
        response = await self.trigger()
        assert response.status_code == 200, response.text
        return int(response.json()["runId"])


def as_(who: str | None) -> dict[str, str]:
    return {"authorization": f"Bearer {KEYS[who]}"} if who else {}


@asynccontextmanager
async def door(tmp_path: Path) -> AsyncIterator[Door]:
    (tmp_path / "jobs.toml").write_text(TOML)
    async with running(create_emulator_app(Scenario.demo(), clock=ManualClock())) as emulator:
        environ = {
            "DATABRICKS_HOST": emulator,
            "DATABRICKS_TOKEN": "dapi-local-dev",
            "HOST": "127.0.0.1",
            "ACCESS_MODE": "token",
            "SIDECAR_API_KEYS": ",".join(f"{name}:{key}" for name, key in KEYS.items()),
        }
        settings = load_settings(environ, tmp_path / "jobs.toml")
        check_serving(settings)
        settings = msgspec.structs.replace(settings, max_body_bytes=MAX_BODY)
        async with (
            running(create_app(settings)) as url,
            httpx.AsyncClient(base_url=url, timeout=10) as api,
        ):
            yield Door(url=url, api=api)


async def declared_too_large(d: Door) -> int:
    """A head whose Content-Length is over the limit, sent alone: refused before its body."""
    address = urlsplit(d.url)
    reader, writer = await asyncio.open_connection(address.hostname, address.port)
    try:
        writer.write(
            b"POST /api/jobs/etl/run HTTP/1.1\r\nHost: 127.0.0.1\r\n"
            b"Authorization: Bearer " + KEYS["alice"].encode() + b"\r\n"
            b"Idempotency-Key: big-1\r\nContent-Type: application/json\r\n"
            b"Content-Length: " + str(MAX_BODY * 10).encode() + b"\r\n\r\n"
        )
        await writer.drain()
        status_line = await asyncio.wait_for(reader.readline(), 10)
        return int(status_line.split()[1])
    finally:
        writer.close()
        await writer.wait_closed()


async def streamed_too_large(d: Door) -> int:
    async def body() -> AsyncIterator[bytes]:
        for _ in range(8):
            yield b" " * (MAX_BODY // 2)

    return (await d.trigger(content=body(), json=None)).status_code


async def over_the_rate(d: Door) -> int:
    await d.started()
    await d.started()
    return (await d.trigger()).status_code


async def key_reused(d: Door) -> int:
    await d.trigger(headers={"idempotency-key": "k-1"})
    other = {"params": {"run_date": "2026-12-04"}}
    return (await d.trigger(json=other, headers={"idempotency-key": "k-1"})).status_code


async def cancelled(d: Door) -> int:
    return (await d.cancel(await d.started())).status_code


Case = Callable[[Door], Awaitable[int]]
CROSS_SITE = {"sec-fetch-site": "cross-site", "origin": "https://evil.example"}
# name: (the write, what its one line says: action, caller, status, code, outcome)
CASES: dict[str, tuple[Case, tuple[str, str | None, int, str | None, str]]] = {
    "trigger 401": (
        lambda d: _status(d.trigger(None)),
        ("trigger", None, 401, "UNAUTHENTICATED", "refused"),
    ),
    "trigger 401, a wrong key": (
        lambda d: _status(d.trigger(None, headers={"authorization": "Bearer " + "x" * 30})),
        ("trigger", None, 401, "UNAUTHENTICATED", "refused"),
    ),
    "trigger 403 cross-site": (
        lambda d: _status(d.trigger(headers=CROSS_SITE)),
        ("trigger", None, 403, "CROSS_ORIGIN", "refused"),
    ),
    "trigger 403 forbidden": (
        lambda d: _status(d.trigger("bob")),
        ("trigger", "bob", 403, "FORBIDDEN", "refused"),
    ),
    "trigger 413 declared": (
        declared_too_large,
        ("trigger", "alice", 413, "PAYLOAD_TOO_LARGE", "refused"),
    ),
    "trigger 413 streamed": (
        streamed_too_large,
        ("trigger", "alice", 413, "PAYLOAD_TOO_LARGE", "refused"),
    ),
    "trigger 429": (over_the_rate, ("trigger", "alice", 429, "RATE_LIMITED", "refused")),
    "trigger 400": (
        lambda d: _status(d.trigger(json={"params": {"run_date": "someday"}})),
        ("trigger", "alice", 400, "BAD_REQUEST", "refused"),
    ),
    "trigger 422": (key_reused, ("trigger", "alice", 422, "IDEMPOTENCY_KEY_REUSED", "refused")),
    "trigger 200": (
        lambda d: _status(d.trigger()),
        ("trigger", "alice", 200, None, "started"),
    ),
    "cancel 401": (
        lambda d: _status(d.cancel(7, None)),
        ("cancel", None, 401, "UNAUTHENTICATED", "refused"),
    ),
    "cancel 403 cross-site": (
        lambda d: _status(d.cancel(7, **CROSS_SITE)),
        ("cancel", None, 403, "CROSS_ORIGIN", "refused"),
    ),
    "cancel 403 forbidden": (
        lambda d: _status(d.cancel(7, "bob")),
        ("cancel", "bob", 403, "FORBIDDEN", "refused"),
    ),
    "cancel 400": (
        lambda d: _status(d.cancel("7x")),
        ("cancel", "alice", 400, "BAD_REQUEST", "refused"),
    ),
    "cancel 204": (cancelled, ("cancel", "alice", 204, None, "cancelled")),
}


async def _status(response: Awaitable[httpx.Response]) -> int:
    return (await response).status_code


@pytest.mark.parametrize(("case", "expected"), CASES.values(), ids=CASES.keys())
async def test_each_write_however_it_ends_has_exactly_one_audit_line(
    tmp_path, json_logs, case, expected
):
    action, caller, status, code, outcome = expected
    async with door(tmp_path) as d:
        # What the case needs first (runs, a used key) writes lines of its own: only the last
        # request's lines count.
        answered = await case(d)
    lines = [line for line in log_lines(json_logs) if line["event"] == "audit"]
    last_request = lines[-1]["request_id"]
    mine = [line for line in lines if line["request_id"] == last_request]
    assert answered == status
    assert len(mine) == 1, mine
    (line,) = mine
    assert (line["action"], line["caller"], line["status"], line["code"], line["outcome"]) == (
        action,
        caller,
        status,
        code,
        outcome,
    )
    assert line["via"] == "http"
    assert line["job_key"] == "etl"


async def test_a_write_refused_before_its_body_names_its_key_never_its_body(tmp_path, json_logs):
    async with door(tmp_path) as d:
        status = await declared_too_large(d)
    (line,) = [line for line in log_lines(json_logs) if line["event"] == "audit"]
    assert status == 413
    assert line["idempotency_key_digest"] == audit.digest("big-1")
    assert line["params_digest"] is None


async def test_every_request_writes_one_access_line_and_reads_write_no_audit_line(
    tmp_path, json_logs
):
    async with door(tmp_path) as d:
        refused_read = await d.api.get("/api/jobs/etl/runs/7")
        unknown_route = await d.api.post("/api/jobs/etl/runs", json={}, headers=as_("alice"))
    lines = log_lines(json_logs)
    assert (refused_read.status_code, unknown_route.status_code) == (401, 405)
    assert [line for line in lines if line["event"] == "audit"] == []
    assert len([line for line in lines if line["event"] == "http.request"]) == 2
