"""`AsyncClient`: the same rules as `Client`, awaited (retry waits on the loop's clock)."""

from __future__ import annotations

import asyncio
import contextlib

import httpx
import pytest

from service.client import AsyncClient, OutcomeUnknown, RunFailed
from tests.client.conftest import EPOCH, FakeService, error, frame


def client(service: FakeService, **options: object) -> AsyncClient:
    return AsyncClient("http://sidecar", transport=service.transport(), **options)  # type: ignore[arg-type]


async def test_a_lost_answer_is_sent_again_with_the_same_key_after_a_backoff(service):
    service.answers.extend(
        [
            httpx.ReadError("reset"),
            error(502, "OUTCOME_UNKNOWN"),
            httpx.Response(200, json={"runId": 7}),
        ]
    )
    loop = asyncio.get_running_loop()
    before = loop.time()
    async with client(service, retry_delay=0.5) as jobs:
        started = await jobs.trigger("etl", idempotency_key="k-1")
    assert started.run_id == 7
    assert [r.headers["idempotency-key"] for r in service.requests] == ["k-1"] * 3
    assert loop.time() - before == pytest.approx(1.5)  # 0.5 s, then 1 s


async def test_retry_after_sets_the_wait(service):
    service.answers.extend(
        [error(503, "OUTCOME_UNKNOWN", retry_after=4), httpx.Response(200, json={"runId": 7})]
    )
    loop = asyncio.get_running_loop()
    before = loop.time()
    async with client(service) as jobs:
        await jobs.trigger("etl")
    assert loop.time() - before == pytest.approx(4)


async def test_retries_spent_end_unknown_with_the_key(service):
    service.answers.extend([error(504, "OUTCOME_UNKNOWN")] * 4)
    async with client(service) as jobs:
        with pytest.raises(OutcomeUnknown) as raised:
            await jobs.trigger("etl", idempotency_key="k-2")
    assert raised.value.idempotency_key == "k-2"
    assert len(service.requests) == 4


async def test_watch_gives_every_change_once_across_dropped_connections(service):
    service.drops.extend([1, 0, 2])  # the second connection drops before its first event
    async with client(service) as jobs:
        ids = [u.id async for u in jobs.watch("etl", 7)]
    assert ids == [f"{EPOCH}-{n}" for n in range(1, 6)]
    assert service.last_event_ids() == [None, f"{EPOCH}-1", f"{EPOCH}-1", f"{EPOCH}-3"]


async def test_a_watch_left_early_closes_its_connection(service):
    async with client(service) as jobs, contextlib.aclosing(jobs.watch("etl", 7)) as updates:
        async for update in updates:
            assert update.status == "PENDING"
            break
    assert service.last_event_ids() == [None]


async def test_run_and_wait_raises_run_failed_for_a_canceled_run(service):
    service.answers.append(httpx.Response(200, json={"runId": 7}))
    service.run[-1] = frame(5, "TERMINATED", "CANCELED")
    async with client(service) as jobs:
        with pytest.raises(RunFailed) as raised:
            await jobs.run_and_wait("etl")
    assert raised.value.result == "CANCELED"
