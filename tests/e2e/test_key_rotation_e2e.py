"""API keys rotated without a restart, over real sockets: the service in token mode with an
`api_keys_file`, which is replaced while it serves."""

from __future__ import annotations

import asyncio
import os
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

import httpx
import pytest

from service.app import create_app
from service.config import check_serving, load_settings
from service.key_rotation import CHECK_EVERY_S
from tests.e2e.servers import running
from tests.factories import log_lines

pytestmark = pytest.mark.looptime(False)
OLD, NEW = "old-key-" + "o" * 20, "new-key-" + "n" * 20


def replace(path: Path, text: str) -> None:
    """A rotation as it should be done: the new file written beside the old, renamed over it."""
    fresh = path.with_name(path.name + ".new")
    fresh.write_text(text)
    fresh.chmod(0o600)
    os.replace(fresh, path)


@asynccontextmanager
async def service(key_file: Path) -> AsyncIterator[httpx.AsyncClient]:
    config = key_file.with_name("jobs.toml")
    config.write_text(f'[access]\napi_keys_file = "{key_file}"\n[jobs.etl]\njob_id = 1001\n')
    environ = {
        "DATABRICKS_HOST": "http://127.0.0.1:9",  # never called: /api/jobs reads no workspace
        "DATABRICKS_TOKEN": "dapi-local-dev",
        "HOST": "127.0.0.1",
        "ACCESS_MODE": "token",
    }
    settings = load_settings(environ, config)
    check_serving(settings)
    async with running(create_app(settings)) as url, httpx.AsyncClient(base_url=url) as api:
        yield api


async def status_with(api: httpx.AsyncClient, key: str) -> int:
    return (await api.get("/api/jobs", headers={"authorization": f"Bearer {key}"})).status_code


async def until_admitted(api: httpx.AsyncClient, key: str, within_s: float) -> float:
    """Seconds until `key` is let in (polling); fails past `within_s`."""
    loop = asyncio.get_running_loop()
    started = loop.time()
    while await status_with(api, key) != 200:
        assert loop.time() - started < within_s, f"{key[:8]}… still refused after {within_s} s"
        await asyncio.sleep(0.05)
    return loop.time() - started


async def test_a_replaced_key_file_lets_the_new_key_in_and_the_old_one_no_more(tmp_path):
    key_file = tmp_path / "keys"
    replace(key_file, f"frontend:{OLD}\n")
    async with service(key_file) as api:
        before = (await status_with(api, OLD), await status_with(api, NEW))
        replace(key_file, f"frontend:{NEW}\n")
        waited = await until_admitted(api, NEW, within_s=CHECK_EVERY_S + 2)
        after = (await status_with(api, OLD), await status_with(api, NEW))
    assert before == (200, 401)
    assert after == (401, 200)
    assert waited <= CHECK_EVERY_S + 1


async def test_a_broken_key_file_keeps_the_keys_in_force(tmp_path, json_logs):
    key_file = tmp_path / "keys"
    replace(key_file, f"frontend:{OLD}\n")
    async with service(key_file) as api:
        replace(key_file, "frontend:too-short\n")
        loop = asyncio.get_running_loop()
        deadline = loop.time() + CHECK_EVERY_S + 2
        lines: list[dict[str, object]] = []
        statuses = set()
        while not any(line["event"] == "api_keys.reload_failed" for line in lines):
            assert loop.time() < deadline, "the broken file was never read"
            statuses.add(await status_with(api, OLD))
            lines += log_lines(json_logs)
            await asyncio.sleep(0.05)
        statuses.add(await status_with(api, OLD))
        replace(key_file, f"frontend:{OLD}\nbatch:{NEW}\n")
        await until_admitted(api, NEW, within_s=CHECK_EVERY_S + 2)
    failed = [line for line in lines if line["event"] == "api_keys.reload_failed"]
    assert statuses == {200}  # before the broken file was read, and after
    assert len(failed) == 1
    assert "the secret must be at least 16 characters" in str(failed[0]["reason"])
    assert "too-short" not in str(failed)
