"""A sped-up emulator keeps the wall clock's time: its phases are shorter, its timestamps real."""

from __future__ import annotations

from service.emulator import ScaledClock, create_emulator_app
from tests.emulator.conftest import NOTEBOOK, ONE_TASK, get_run, make_client, make_scenario, run_now

SPEED = 20


async def test_a_fast_run_reports_wall_clock_times() -> None:
    wall = [1_800_000_000.0]
    app = create_emulator_app(make_scenario(), clock=ScaledClock(speed=SPEED, wall=lambda: wall[0]))
    async with make_client(app) as client:
        created_ms = int(wall[0] * 1000)
        run_id = await run_now(client, NOTEBOOK)
        wall[0] += 1.0  # the run's whole life at 20x is 575 ms of real time
        run = await get_run(client, run_id)
    assert run["state"]["life_cycle_state"] == "TERMINATED"
    assert run["start_time"] == created_ms
    # 575 ms after its start, as the wall clock tells it; not 11.5 s, ahead of the wall clock.
    assert run["end_time"] == created_ms + ONE_TASK // SPEED
    assert run["run_duration"] == ONE_TASK // SPEED
    assert run["tasks"][0]["end_time"] <= created_ms + 1_000


async def test_a_fast_run_is_still_running_before_its_shortened_life_is_over() -> None:
    wall = [1_800_000_000.0]
    app = create_emulator_app(make_scenario(), clock=ScaledClock(speed=SPEED, wall=lambda: wall[0]))
    async with make_client(app) as client:
        run_id = await run_now(client, NOTEBOOK)
        wall[0] += (ONE_TASK / SPEED - 50) / 1000
        run = await get_run(client, run_id)
    assert run["state"]["life_cycle_state"] in {"RUNNING", "TERMINATING"}
    assert run["end_time"] == 0
