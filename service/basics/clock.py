"""Time as a dependency: pollers, caches and retries read the clock they are given."""

from __future__ import annotations

import asyncio
import time
from typing import Protocol


class Clock(Protocol):
    """What the service needs of time: a monotonic reading, wall time for events, and sleep."""

    def monotonic(self) -> float: ...

    def wall_ms(self) -> int: ...

    async def sleep(self, seconds: float) -> None: ...


class LoopClock:
    """The running event loop's clock.

    Why loop time rather than `time.monotonic`: tests fast-forward the loop (looptime), and every
    timer in the process (stamina's backoff, httpx timeouts, our pollers) then moves together.
    """

    def monotonic(self) -> float:
        return asyncio.get_running_loop().time()

    def wall_ms(self) -> int:
        return time.time_ns() // 1_000_000

    async def sleep(self, seconds: float) -> None:
        await asyncio.sleep(max(0.0, seconds))
