"""The emulator's sense of time: every run state is computed from a clock reading, never a timer.

Readings are epoch milliseconds that agree with the wall clock (on a ScaledClock), so a run's
`start_time` and `end_time` agree with the time its watchers see. `speed` shortens the
scenario's phases instead (see `lasting`): at 2.0 a 14 s run takes, and reports, 7 s.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Protocol


class EmulatorClock(Protocol):
    """Epoch milliseconds, and how many times shorter than written the scenario's phases are."""

    @property
    def speed(self) -> float: ...

    def now_ms(self) -> int: ...


class ManualClock:
    """A clock that moves only when told to: tests advance it instead of sleeping."""

    def __init__(self, start_ms: int = 1_767_225_600_000) -> None:
        self._now_ms = start_ms

    @property
    def speed(self) -> float:
        return 1.0

    def now_ms(self) -> int:
        return self._now_ms

    def advance(self, ms: int) -> int:
        """Move forward by `ms` milliseconds; return the new reading."""
        if ms < 0:
            raise ValueError(f"a clock only moves forward, not by {ms} ms")
        self._now_ms += ms
        return self._now_ms

    def set(self, ms: int) -> int:
        """Jump to `ms`, which may not be earlier than the current reading."""
        if ms < self._now_ms:
            raise ValueError(f"a clock only moves forward: {ms} is before {self._now_ms}")
        self._now_ms = ms
        return self._now_ms


class ScaledClock:
    """The wall clock, for a scenario played `speed` times faster (20 turns a minute into 3 s).

    Why the readings are not sped up too: a clock running faster than the wall drifts ahead of
    it (at 2.0, 30 s after a minute), and runs then start "in the future" of the events that
    report them. Phases are shortened instead, so every timestamp is a real one.
    """

    def __init__(self, speed: float = 1.0, *, wall: Callable[[], float] = time.time) -> None:
        if speed <= 0:
            raise ValueError(f"speed must be positive, not {speed}")
        self._speed = speed
        self._wall = wall  # seconds since the epoch; replaceable so tests need not wait
        self._last_ms = 0

    @property
    def speed(self) -> float:
        return self._speed

    def now_ms(self) -> int:
        # Never backwards (the wall clock may be stepped back): run phases only move forward.
        self._last_ms = max(self._last_ms, int(self._wall() * 1000))
        return self._last_ms


def lasting(scenario_ms: int, speed: float) -> int:
    """How long (clock ms) a phase written as `scenario_ms` lasts at `speed`."""
    return round(scenario_ms / speed)
