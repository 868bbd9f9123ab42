"""The emulator's clocks: one moved by hand, one on the wall clock for a sped-up scenario."""

from __future__ import annotations

import pytest

from service.emulator import ManualClock, ScaledClock
from service.emulator.clock import lasting


def test_a_manual_clock_moves_only_when_advanced() -> None:
    clock = ManualClock(start_ms=1_000)
    assert clock.now_ms() == 1_000
    assert clock.advance(250) == 1_250
    assert clock.set(5_000) == clock.now_ms() == 5_000


@pytest.mark.parametrize("move", [lambda c: c.advance(-1), lambda c: c.set(999)])
def test_a_manual_clock_never_goes_back(move: object) -> None:
    clock = ManualClock(start_ms=1_000)
    with pytest.raises(ValueError, match="only moves forward"):
        move(clock)  # type: ignore[operator]


def test_a_scaled_clock_reads_the_wall_clock_whatever_its_speed() -> None:
    wall = [1_700_000_000.0]
    clock = ScaledClock(speed=20, wall=lambda: wall[0])
    assert clock.now_ms() == 1_700_000_000_000
    wall[0] += 3.0
    assert clock.now_ms() == 1_700_000_003_000
    assert clock.speed == 20


def test_a_scaled_clock_never_goes_back_when_the_wall_clock_does() -> None:
    wall = [1_700_000_000.0]
    clock = ScaledClock(speed=2, wall=lambda: wall[0])
    clock.now_ms()
    wall[0] -= 5.0
    assert clock.now_ms() == 1_700_000_000_000


def test_speed_shortens_the_scenario_phases() -> None:
    assert lasting(60_000, 20) == 3_000  # a minute of scenario time in 3 s
    assert lasting(10_000, 1.0) == 10_000


def test_a_scaled_clock_needs_a_positive_speed() -> None:
    with pytest.raises(ValueError, match="positive"):
        ScaledClock(speed=0)
