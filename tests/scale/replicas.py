"""Replicas in one test process: each its own `open_services`, all on one Redis and upstream."""

from __future__ import annotations

import asyncio
import hashlib
from collections.abc import AsyncIterator
from contextlib import AsyncExitStack, asynccontextmanager
from typing import Any

import httpx
import respx

from service.config import Secret
from service.runs.events import RunEvent
from service.runs.follow import Following
from service.runs.subscription import End
from service.runtime import Services, open_services
from tests.factories import make_run, make_settings, transport

RUN_ID = 555


def run_key(run_id: int, part: str, identity: str = "sp", prefix: str = "jobs-sidecar") -> str:
    """A run's key in Redis, named as service/runs/shared_run.py names it (`part`: epoch,
    events, lease, watchers, polled)."""
    who = hashlib.sha256(identity.encode()).hexdigest()[:16]
    return f"{prefix}:run:{run_id}:{who}:{part}"


class Upstream:
    """runs/get of one run whose state the test sets; every call counted."""

    def __init__(self, router: respx.MockRouter, state: str = "PENDING") -> None:
        self.state = state
        self.route = router.get("/runs/get").mock(side_effect=self.respond)

    @property
    def polls(self) -> int:
        return self.route.call_count

    def respond(self, request: httpx.Request) -> httpx.Response:
        result = "SUCCESS" if self.state == "TERMINATED" else None
        return httpx.Response(200, json=make_run(RUN_ID, state=self.state, result=result))


@asynccontextmanager
async def replicas(
    count: int, redis_url: str, router: respx.MockRouter, **overrides: Any
) -> AsyncIterator[list[Services]]:
    settings = make_settings(
        redis_url=Secret(redis_url), poll_interval_ms=1000, poll_max_ms=1000, **overrides
    )
    async with AsyncExitStack() as stack:
        yield [
            await stack.enter_async_context(open_services(settings, transport=transport(router)))
            for _ in range(count)
        ]


async def watch(svc: Services, last_event_id: str | None = None) -> Following:
    following = await svc.follow_run(
        svc.settings.jobs["etl"], svc.service_principal, RUN_ID, last_event_id
    )
    assert following is not None
    return following


async def collect(following: Following, *, within_s: float = 15) -> list[RunEvent | End]:
    """Every event until the ending."""
    items: list[RunEvent | End] = []
    async with asyncio.timeout(within_s):
        while True:
            item = await following.next()
            items.append(item)  # type: ignore[arg-type]
            if isinstance(item, End):
                following.close()
                return items


async def until(predicate: Any, *, within_s: float = 10, step_s: float = 0.05) -> None:
    """Wait for `predicate()` over real time (these tests talk to a real Redis)."""
    async with asyncio.timeout(within_s):
        while not predicate():
            await asyncio.sleep(step_s)
