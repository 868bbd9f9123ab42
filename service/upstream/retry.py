"""The retry policy, stated once: which failures retry, how long to wait, and a retry budget.

Why this differs from the official SDK (which retries every method, 429/503 only, for 300 s):
reads and *idempotent* writes retry transport errors, timeouts, 429 and every 5xx, at most
`attempts` times within the tier's time budget; a `Retry-After` sets the wait (capped by what is
left of the budget), otherwise exponential backoff with jitter; and a budget keeps retries under
a fraction of all upstream calls, so an outage is not multiplied by our own retries.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Awaitable, Callable
from typing import TypeVar

import msgspec
import stamina

from service.clock import Clock
from service.errors import UpstreamError, UpstreamThrottled, UpstreamTimeout, UpstreamUnavailable

T = TypeVar("T")


class Tier(msgspec.Struct, frozen=True):
    """An execution tier: its name (for logs), total time budget, and how often it may try."""

    name: str
    timeout_s: float
    attempts: int

    @property
    def retries(self) -> bool:
        return self.attempts > 1


READ = Tier("read", timeout_s=30.0, attempts=3)
WRITE = Tier("write", timeout_s=120.0, attempts=1)
# run-now with an idempotency token and cancel are safe to repeat: retried like reads.
SAFE_WRITE = Tier("safe_write", timeout_s=120.0, attempts=3)
# One poll of a stream: the poller tolerates failed polls itself, so it never retries inline.
POLL = Tier("poll", timeout_s=30.0, attempts=1)


def is_retryable(exc: Exception) -> bool:
    """Transport errors, timeouts, 429 and 5xx; never 400/401/403/404."""
    return isinstance(exc, UpstreamThrottled | UpstreamUnavailable | UpstreamTimeout)


class RetryBudget:
    """Retries may be at most `ratio` of the calls in a sliding window, plus a small floor."""

    def __init__(
        self, clock: Clock, *, ratio: float = 0.2, window_s: float = 10.0, floor_per_s: float = 3.0
    ) -> None:
        self._clock = clock
        self._ratio = ratio
        self._window = window_s
        self._floor = floor_per_s * window_s
        self._calls: deque[float] = deque()
        self._retries: deque[float] = deque()

    def record_call(self) -> None:
        self._calls.append(self._clock.monotonic())

    def try_spend(self) -> bool:
        now = self._clock.monotonic()
        for events in (self._calls, self._retries):
            while events and events[0] < now - self._window:
                events.popleft()
        if len(self._retries) >= max(self._floor, self._ratio * len(self._calls)):
            return False
        self._retries.append(now)
        return True


class RetryPolicy:
    """Runs an upstream call within its tier: attempts, deadline, backoff and the budget."""

    def __init__(self, clock: Clock, budget: RetryBudget, *, backoff_s: float = 1.0) -> None:
        self._clock = clock
        self.budget = budget
        self._backoff = backoff_s

    async def call(self, tier: Tier, attempt: Callable[[float], Awaitable[T]]) -> T:
        """Call `attempt(time_left)` until it succeeds, fails for good, or the tier runs out."""
        deadline = self._clock.monotonic() + tier.timeout_s
        if not tier.retries:
            self.budget.record_call()
            return await attempt(tier.timeout_s)
        async for try_ in stamina.retry_context(
            on=self._decide(deadline),
            attempts=tier.attempts,
            timeout=None,  # our deadline is on the (drivable) clock; _decide enforces it
            wait_initial=self._backoff,
            wait_max=10.0,
            wait_jitter=self._backoff / 2,
        ):
            with try_:
                self.budget.record_call()
                left = deadline - self._clock.monotonic()
                if left <= 0:
                    raise UpstreamTimeout(
                        "Databricks did not answer in time", detail=f"{tier.name} tier budget spent"
                    )
                return await attempt(left)
        raise AssertionError("unreachable: stamina re-raises the last error")  # pragma: no cover

    def _decide(self, deadline: float) -> Callable[[Exception], bool | float]:
        def decide(exc: Exception) -> bool | float:
            if not is_retryable(exc):
                return False
            assert isinstance(exc, UpstreamError)  # noqa: S101 - is_retryable checked it
            left = deadline - self._clock.monotonic()
            wait = exc.retry_after
            if wait is not None and wait >= left:
                return False  # the server asks for more time than we have: fail now
            if left <= self._backoff or not self.budget.try_spend():
                return False
            return float(wait) if wait is not None else True

        return decide
