"""Whom the front door believes, over real sockets: a trusted proxy's IPv4 peer on a dual-stack
socket, and a user token that only the Apps proxy may forward.

`etl` runs as the user (`run_as = "user"`): it acts with the caller's X-Forwarded-Access-Token,
which the emulator knows (config/emulator.toml), and asks SCIM `Me` whose it is first.
"""

from __future__ import annotations

import socket
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
from tests.factories import log_lines

pytestmark = pytest.mark.looptime(False)
SPEED = 40.0
USER_TOKEN = "user-alice-1"  # a user the demo emulator knows
KEY = "ci-bot-key-" + "k" * 20
PARAMS = {"params": {"run_date": "2026-11-29"}}
TOML = """
[jobs.etl]
job_id = 1001
task_type = "job"
run_as = "user"
[jobs.etl.params]
run_date = "date"
"""


class Door(msgspec.Struct):
    api: httpx.AsyncClient
    emulator: httpx.AsyncClient

    async def stats(self) -> dict[str, Any]:
        return (await self.emulator.get("/emulator/stats")).json()  # type: ignore[no-any-return]


def has_dual_stack_loopback() -> bool:
    """Whether `::` takes IPv4 clients here (an IPv6 stack, IPV6_V6ONLY off)."""
    if not socket.has_ipv6:
        return False
    try:
        with socket.socket(socket.AF_INET6) as server:
            server.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 0)
            server.bind(("::", 0))
            server.listen()
            with socket.create_connection(("127.0.0.1", server.getsockname()[1]), timeout=2):
                return True
    except OSError:
        return False


@asynccontextmanager
async def door(tmp_path: Path, mode: str, *, host: str = "127.0.0.1") -> AsyncIterator[Door]:
    (tmp_path / "jobs.toml").write_text(TOML)
    scenario = msgspec.structs.replace(Scenario.demo(), speed=SPEED)
    emulator_app = create_emulator_app(scenario, clock=ScaledClock(speed=SPEED))
    async with running(emulator_app) as emulator_url:
        environ = {
            "DATABRICKS_HOST": emulator_url,
            "DATABRICKS_TOKEN": "dapi-local-dev",
            "HOST": host,
            "ACCESS_MODE": mode,
            "SIDECAR_API_KEYS": f"ci-bot:{KEY}",
        }
        settings = load_settings(environ, tmp_path / "jobs.toml")
        check_serving(settings)
        async with (
            running(create_app(settings), host=host) as url,
            httpx.AsyncClient(base_url=url, timeout=20) as api,
            httpx.AsyncClient(base_url=emulator_url) as emulator,
        ):
            yield Door(api=api, emulator=emulator)


@pytest.mark.skipif(not has_dual_stack_loopback(), reason="no dual-stack IPv6 loopback here")
async def test_an_ipv4_proxy_on_a_dual_stack_socket_is_a_trusted_proxy(tmp_path):
    # HOST=:: takes IPv4 connections as `::ffff:127.0.0.1`: the proxy is still 127.0.0.0/8.
    proxy = {"x-forwarded-email": "alice@example.com", "x-forwarded-access-token": USER_TOKEN}
    async with door(tmp_path, "apps", host="::") as d:
        listing = await d.api.get("/api/jobs", headers=proxy)
        started = await d.api.post("/api/jobs/etl/run", json=PARAMS, headers=proxy)
        stats = await d.stats()
    assert listing.status_code == 200, listing.text
    assert [job["key"] for job in listing.json()["jobs"]] == ["etl"]
    assert started.status_code == 200, started.text
    assert set(stats["tokens"]) == {USER_TOKEN}  # acted as the user the proxy vouched for


@pytest.mark.parametrize("mode", ["token", "open"])
async def test_a_user_token_sent_without_the_apps_proxy_is_ignored_with_one_warning(
    tmp_path, json_logs, mode
):
    headers = {"x-forwarded-access-token": USER_TOKEN}
    if mode == "token":
        headers["authorization"] = f"Bearer {KEY}"
    async with door(tmp_path, mode) as d:
        answers = [
            await d.api.post("/api/jobs/etl/run", json=PARAMS, headers=headers) for _ in range(3)
        ]
        stats = await d.stats()
    lines = log_lines(json_logs)
    assert [a.status_code for a in answers] == [401] * 3
    assert {a.json()["code"] for a in answers} == {"UNAUTHENTICATED"}
    assert "from the Databricks Apps proxy (apps mode)" in answers[0].json()["error"]
    assert stats["calls"] == {}  # neither SCIM `Me` nor run-now heard of the token
    warnings = [line for line in lines if line["event"] == "request.forwarded_token_ignored"]
    assert [(w["level"], w["mode"], w["ignored"]) for w in warnings] == [("warning", mode, 1)]
    assert all(USER_TOKEN not in str(line) for line in lines)
