"""The retry policy: what retries, how long it waits, and the budget that caps it."""

from __future__ import annotations

import asyncio

import httpx
import pytest

from service.basics.clock import LoopClock
from service.basics.errors import (
    UpstreamNotFound,
    UpstreamRejected,
    UpstreamThrottled,
    UpstreamTimeout,
    UpstreamUnavailable,
)
from service.upstream.retry import READ, WRITE, RetryBudget, RetryPolicy, Tier
from tests.factories import (
    advance,
)

NOW_S = 1_790_000_000.0  # the wall time the injected clock says it is (Sept 2026)


def policy(**budget):
    clock = LoopClock()
    return RetryPolicy(clock, RetryBudget(clock, **budget))


def scripted(*outcomes):
    """An attempt that raises or returns each outcome in turn, recording loop times."""
    times = []

    async def attempt(_left):
        times.append(asyncio.get_running_loop().time())
        outcome = outcomes[len(times) - 1]
        if isinstance(outcome, Exception):
            raise outcome
        return outcome

    return attempt, times


async def test_two_503s_then_success_takes_three_calls():
    attempt, times = scripted(UpstreamUnavailable("x"), UpstreamUnavailable("x"), "ok")
    assert await policy().call(READ, attempt) == "ok"
    assert len(times) == 3


@pytest.mark.parametrize("error", [UpstreamNotFound("x"), UpstreamRejected("x")])
async def test_client_errors_are_not_retried(error):
    attempt, times = scripted(error, "ok")
    with pytest.raises(type(error)):
        await policy().call(READ, attempt)
    assert len(times) == 1


async def test_writes_are_not_retried():
    attempt, times = scripted(UpstreamUnavailable("x"), "ok")
    with pytest.raises(UpstreamUnavailable):
        await policy().call(WRITE, attempt)
    assert len(times) == 1


async def test_retry_after_sets_the_wait():
    attempt, times = scripted(UpstreamThrottled("x", retry_after=2), "ok")
    assert await policy().call(READ, attempt) == "ok"
    assert times[1] - times[0] >= 2


async def test_retry_after_beyond_the_deadline_fails_fast():
    attempt, times = scripted(UpstreamThrottled("x", retry_after=60), "ok")
    with pytest.raises(UpstreamThrottled):
        await policy().call(Tier("t", timeout_s=30, attempts=3), attempt)
    assert len(times) == 1


async def test_backoff_without_retry_after_waits_about_a_second():
    attempt, times = scripted(UpstreamTimeout("x"), "ok")
    await policy().call(READ, attempt)
    assert 1 <= times[1] - times[0] <= 1.6


async def test_attempts_are_capped_at_three():
    attempt, times = scripted(*[UpstreamUnavailable("x")] * 5)
    with pytest.raises(UpstreamUnavailable):
        await policy().call(READ, attempt)
    assert len(times) == 3


async def test_budget_keeps_retries_a_fraction_of_calls_in_an_outage():
    pol = policy(ratio=0.2, window_s=10, floor_per_s=0.5)
    total = 0
    for _ in range(100):
        attempt, times = scripted(*[UpstreamUnavailable("x")] * 3)
        with pytest.raises(UpstreamUnavailable):
            await pol.call(READ, attempt)
        total += len(times)
    retries = total - 100
    assert retries <= 0.25 * total


@pytest.mark.parametrize(
    ("header", "seconds"),
    [
        ("2", 2.0),
        ("0", 0.0),
        (None, None),
        ("soon", None),
        ("Wed, 21 Oct 2015 07:28:00 GMT", 0.0),
        ("9" * 400, 3600.0),  # float() would make it infinite: capped
        ("\u00b2", None),  # a digit to str.isdigit, not to float()
        ("Fri, 31 Dec 9999 23:59:59 GMT", 3600.0),
    ],
)
def test_retry_after_header_parsing(header, seconds):
    from service.upstream.reply import parse_retry_after  # noqa: PLC0415

    assert parse_retry_after(header, wall_s=NOW_S) == seconds


def test_retry_after_as_a_future_http_date_counts_from_the_given_wall_time():
    from service.upstream.reply import parse_retry_after  # noqa: PLC0415

    # 2015-10-21 07:28:00 UTC is 1445412480: the date is 30 s after the wall time we pass.
    assert parse_retry_after("Wed, 21 Oct 2015 07:28:30 GMT", wall_s=1445412480.0) == 30.0


async def test_the_retry_budget_forgets_old_calls():
    clock = LoopClock()
    budget = RetryBudget(clock, window_s=10, floor_per_s=0)
    for _ in range(1000):
        budget.record_call()
        await advance(0.1)
    spent = 0
    while budget.try_spend():
        spent += 1
    assert spent <= 21  # a fifth of the last 10 s of calls (~101), not of all 1,000


async def test_backoff_never_runs_past_the_deadline():
    policy = RetryPolicy(LoopClock(), RetryBudget(LoopClock()))

    async def late_503(_left):
        await advance(2.5)
        raise UpstreamUnavailable("x")

    started = asyncio.get_running_loop().time()
    with pytest.raises(UpstreamUnavailable):  # the 503 itself, not a 504 after the deadline
        await policy.call(Tier("t", timeout_s=3, attempts=3), late_503)
    assert asyncio.get_running_loop().time() - started < 3


async def test_an_overflowing_retry_after_is_a_503_not_a_500(client, upstream):
    upstream.get("/runs/get").respond(429, headers={"Retry-After": "9" * 400}, json={})
    response = await client.get("/api/jobs/etl/runs/555/events")
    assert response.status_code == 503
    assert response.headers["retry-after"] == "3600"  # capped, not float('inf')


async def test_an_outage_stays_within_the_retry_budget(client, upstream):
    route = upstream.get("/runs/get").respond(503, json={})
    responses = await asyncio.gather(
        *(client.get(f"/api/jobs/etl/runs/{i}") for i in range(1, 201))
    )
    assert {r.status_code for r in responses} == {502}
    # Without a budget: 600 calls. With it, retries stay near 20% of the calls.
    assert route.call_count <= 200 * 1.25 + 30


async def test_429_after_retries_is_503_with_retry_after(client, upstream):
    route = upstream.get("/runs/list").respond(
        429, json={"error_code": "REQUEST_LIMIT_EXCEEDED"}, headers={"Retry-After": "3"}
    )
    response = await client.get("/api/jobs/etl/status")
    assert response.status_code == 503
    assert response.headers["retry-after"] == "3"
    assert route.call_count == 3


async def test_upstream_timeout_is_504(client, upstream):
    upstream.get("/runs/list").mock(side_effect=httpx.ReadTimeout("slow"))
    response = await client.get("/api/jobs/etl/status")
    assert response.status_code == 504
