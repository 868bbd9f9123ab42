"""Scale-out is paid for only when used: a process without REDIS_URL never imports redis-py,
aiocache's Redis backend or uvloop, nor prometheus-client before the first scrape (each
checked in a fresh interpreter's sys.modules)."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
UNUSED = (
    "redis",
    "aiocache",
    "uvloop",
    "service.scale_out.redis_link",
    "service.scale_out.redis_cache",
    "prometheus_client",
)

# The app built and its lifespan run (every service opened, a request served), in a process
# of its own: what a replica without REDIS_URL has imported by the time it serves.
SERVING = textwrap.dedent(
    """
    import asyncio, json, sys
    from service.basics.logs import configure_logging
    from tests.factories import make_client, make_settings, upstream_router

    configure_logging("warning")  # as the command line does first (service/cli.py)

    async def main():
        async with make_client(make_settings(), upstream_router()) as client:
            assert (await client.get("/livez")).status_code == 200
        print(json.dumps(sorted(sys.modules)))

    asyncio.run(main())
    """
)


def imported(code: str) -> set[str]:
    out = subprocess.run(  # noqa: S603 - our own interpreter
        [sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, check=True
    ).stdout
    return set(json.loads(out.splitlines()[-1]))


def unused_in(modules: set[str]) -> list[str]:
    return sorted(m for m in modules if any(m == u or m.startswith(f"{u}.") for u in UNUSED))


def test_a_process_without_redis_url_imports_no_redis_nor_uvloop() -> None:
    assert unused_in(imported(SERVING)) == []


def test_the_command_line_imports_no_redis_nor_uvloop_nor_the_app() -> None:
    """`python -m service` loads this much before it knows what it will run (a `workers = N`
    parent goes no further: it execs a supervisor that imports none of it)."""
    modules = imported("import json, sys, service.cli; print(json.dumps(sorted(sys.modules)))")
    assert unused_in(modules) == []
    assert "service.app" not in modules
    assert "hypercorn.asyncio" not in modules
