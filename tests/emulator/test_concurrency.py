"""max_concurrent_runs: runs beyond the limit queue (or are skipped) and start as slots free."""

from __future__ import annotations

import httpx

from service.emulator import ManualClock
from service.emulator.scenario import Timings
from tests.emulator.conftest import (
    EXCLUSIVE,
    NEVER,
    ONE_TASK,
    SERIAL,
    START_MS,
    TERMINATING,
    get_run,
    life_cycle,
    make_app,
    make_client,
    make_scenario,
    run_now,
)

QUEUE_REASON = "Queued due to reaching maximum concurrent runs of 1."
SKIP_MESSAGE = "Skipping this run because the limit of 1 maximum concurrent runs has been reached."


async def test_a_run_beyond_the_limit_queues(client: httpx.AsyncClient) -> None:
    await run_now(client, SERIAL)
    queued = await get_run(client, await run_now(client, SERIAL))
    assert queued["state"] == {
        "life_cycle_state": "QUEUED",
        "queue_reason": QUEUE_REASON,
        "state_message": "",
        "user_cancelled_or_timedout": False,
    }
    assert queued["status"] == {
        "state": "QUEUED",
        "queue_details": {"code": "MAX_CONCURRENT_RUNS_REACHED", "message": QUEUE_REASON},
    }
    assert queued["tasks"][0]["state"]["life_cycle_state"] == "QUEUED"


async def test_a_queued_run_starts_when_the_running_one_ends(
    client: httpx.AsyncClient, clock: ManualClock
) -> None:
    await run_now(client, SERIAL)
    second = await run_now(client, SERIAL)
    clock.advance(ONE_TASK - 1)
    before = await life_cycle(client, second)
    clock.advance(1)
    run = await get_run(client, second)
    assert (before, run["state"]["life_cycle_state"]) == ("QUEUED", "PENDING")
    assert run["queue_duration"] == ONE_TASK


async def test_queued_runs_start_in_arrival_order_without_anyone_polling(
    client: httpx.AsyncClient, clock: ManualClock
) -> None:
    runs = [await run_now(client, SERIAL) for _ in range(3)]
    clock.advance(2 * ONE_TASK + 1)
    assert [await life_cycle(client, run_id) for run_id in runs] == [
        "TERMINATED",
        "TERMINATED",
        "PENDING",
    ]
    assert (await get_run(client, runs[2]))["queue_duration"] == 2 * ONE_TASK


async def test_a_queued_run_waits_at_least_queued_ms(clock: ManualClock) -> None:
    timings = Timings(queued_ms=20_000, pending_ms=1_000, running_ms=1_000, terminating_ms=0)
    async with make_client(make_app(make_scenario(timings=timings), clock=clock)) as client:
        await run_now(client, SERIAL)
        second = await run_now(client, SERIAL)
        clock.advance(19_999)
        before = await life_cycle(client, second)
        clock.advance(1)
        assert (before, await life_cycle(client, second)) == ("QUEUED", "PENDING")


async def test_a_run_beyond_the_limit_is_skipped_when_queueing_is_off(
    client: httpx.AsyncClient,
) -> None:
    await run_now(client, EXCLUSIVE)
    skipped = await get_run(client, await run_now(client, EXCLUSIVE))
    assert skipped["state"] == {
        "life_cycle_state": "SKIPPED",
        "result_state": "MAXIMUM_CONCURRENT_RUNS_REACHED",
        "state_message": SKIP_MESSAGE,
        "user_cancelled_or_timedout": False,
    }
    assert skipped["status"]["state"] == "TERMINATED"
    assert skipped["status"]["termination_details"]["code"] == "MAX_CONCURRENT_RUNS_EXCEEDED"
    assert skipped["end_time"] == START_MS


async def test_run_now_can_turn_queueing_off_for_one_run(client: httpx.AsyncClient) -> None:
    await run_now(client, SERIAL)
    run_id = await run_now(client, SERIAL, queue={"enabled": False})
    assert await life_cycle(client, run_id) == "SKIPPED"


async def test_a_job_with_no_concurrent_runs_skips_every_run(client: httpx.AsyncClient) -> None:
    assert await life_cycle(client, await run_now(client, NEVER)) == "SKIPPED"


async def test_cancelling_a_queued_run_ends_it_and_lets_the_next_move_up(
    client: httpx.AsyncClient, clock: ManualClock
) -> None:
    await run_now(client, SERIAL)
    second, third = await run_now(client, SERIAL), await run_now(client, SERIAL)
    await client.post("/api/2.2/jobs/runs/cancel", json={"run_id": second})
    cancelled = await get_run(client, second)
    clock.advance(ONE_TASK)
    assert cancelled["state"]["result_state"] == "CANCELED"
    assert await life_cycle(client, third) == "PENDING"


async def test_cancelling_the_running_run_frees_its_slot_after_cleanup(
    client: httpx.AsyncClient, clock: ManualClock
) -> None:
    first = await run_now(client, SERIAL)
    second = await run_now(client, SERIAL)
    clock.advance(2_000)
    await client.post("/api/2.2/jobs/runs/cancel", json={"run_id": first})
    clock.advance(TERMINATING)
    assert await life_cycle(client, second) == "PENDING"
