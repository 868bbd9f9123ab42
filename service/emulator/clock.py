"""The emulator's sense of time: every run state is computed from a clock reading, never a timer."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Protocol


class EmulatorClock(Protocol):
    """Epoch milliseconds, and how fast they pass compared with real time."""

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
    """Real time from the moment of creation, `speed` times faster (20 turns a minute into 3 s).

    Readings start at the real epoch time of creation, so timestamps look current.
    """

    def __init__(self, speed: float = 1.0, *, wall: Callable[[], float] = time.time) -> None:
        if speed <= 0:
            raise ValueError(f"speed must be positive, not {speed}")
        self._speed = speed
        self._wall = wall  # seconds since the epoch; replaceable so tests need not wait
        self._origin_real = wall()
        self._origin_ms = int(self._origin_real * 1000)

    @property
    def speed(self) -> float:
        return self._speed

    def now_ms(self) -> int:
        elapsed_ms = (self._wall() - self._origin_real) * 1000 * self._speed
        return self._origin_ms + max(0, int(elapsed_ms))
