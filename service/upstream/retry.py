"""The retry policy, stated once: which failures retry, how long to wait, and a retry budget.

Why this differs from the official SDK (which retries every method, 429/503 only, for 300 s):
reads and *idempotent* writes retry transport errors, timeouts, 429 and every 5xx, at most
`attempts` times within the tier's time budget; a `Retry-After` sets the wait (capped by what is
left of the budget), otherwise exponential backoff with jitter; and a budget keeps retries under
a fraction of all upstream calls, so an outage is not multiplied by our own retries.
Each attempt, whole (connect, send, headers, body), has its own deadline, shorter than the
tier's budget: a reply that trickles in ends that attempt, and a retrying tier tries again.
"""

from __future__ import annotations

import asyncio
import random
from collections import deque
from collections.abc import Awaitable, Callable
from typing import TypeVar

import msgspec
import stamina
import stamina.instrumentation

from service.basics.clock import Clock
from service.basics.errors import (
    UpstreamError,
    UpstreamInvalid,
    UpstreamThrottled,
    UpstreamTimeout,
    UpstreamUnavailable,
)
from service.basics.logs import library_logger

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
MIN_ATTEMPT_S = 0.05  # do not start an attempt with less time than this left
_log = library_logger("service.upstream")


_STAMINA_LOG_HOOKS = ("stamina.instrumentation._structlog", "stamina.instrumentation._logging")


def drop_stamina_log_hooks() -> None:
    """Leave out stamina's own retry log lines, keeping any other retry hooks (a host's).

    Our policy logs each retry it schedules (`upstream.retry_scheduled`: verb, attempt, wait,
    reason); stamina's line names only "<context block>", and in a host program that never
    configured structlog it goes to stdout. stamina has no public way to tell its default hooks
    from a host's, so they are told by the module that made them.
    """
    hooks = stamina.instrumentation.get_on_retry_hooks()
    kept = tuple(h for h in hooks if getattr(h, "__module__", "") not in _STAMINA_LOG_HOOKS)
    if kept != hooks:
        stamina.instrumentation.set_on_retry_hooks(kept)


def is_retryable(exc: Exception) -> bool:
    """Transport errors, timeouts, 429, 5xx and garbled 2xx; never 400/401/403/404."""
    return isinstance(
        exc, UpstreamThrottled | UpstreamUnavailable | UpstreamTimeout | UpstreamInvalid
    )


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
        now = self._clock.monotonic()
        self._prune(now)
        self._calls.append(now)

    def try_spend(self) -> bool:
        now = self._clock.monotonic()
        self._prune(now)
        if len(self._retries) >= max(self._floor, self._ratio * len(self._calls)):
            return False
        self._retries.append(now)
        return True

    def _prune(self, now: float) -> None:
        for events in (self._calls, self._retries):
            while events and events[0] < now - self._window:
                events.popleft()


class RetryPolicy:
    """Runs an upstream call within its tier: attempts, deadline, backoff and the budget."""

    def __init__(
        self,
        clock: Clock,
        budget: RetryBudget,
        *,
        backoff_s: float = 1.0,
        attempt_timeout_s: float = 10.0,
    ) -> None:
        self.clock = clock
        self.budget = budget
        self._backoff = backoff_s
        self._attempt_timeout = attempt_timeout_s

    async def call(
        self, tier: Tier, attempt: Callable[[float], Awaitable[T]], *, verb: str = ""
    ) -> T:
        """Call `attempt(seconds)` until it succeeds, fails for good, or the tier runs out;
        each attempt is cut off after `seconds`."""
        deadline = self.clock.monotonic() + tier.timeout_s
        if not tier.retries:
            self.budget.record_call()
            return await _within(min(self._attempt_timeout, tier.timeout_s), attempt, verb)
        async for try_ in stamina.retry_context(
            on=self._decide(tier, verb, deadline),
            attempts=tier.attempts,
            timeout=None,  # our deadline is on the (drivable) clock; _decide enforces it
        ):
            with try_:
                self.budget.record_call()
                left = deadline - self.clock.monotonic()
                if left <= 0:
                    raise UpstreamTimeout(
                        "Databricks did not answer in time", detail=f"{tier.name} tier budget spent"
                    )
                return await _within(min(self._attempt_timeout, left), attempt, verb)
        raise AssertionError("unreachable: stamina re-raises the last error")  # pragma: no cover

    def _decide(
        self, tier: Tier, verb: str, deadline: float
    ) -> Callable[[Exception], bool | float]:
        retries = 0

        def decide(exc: Exception) -> bool | float:
            nonlocal retries
            if not is_retryable(exc) or retries + 1 >= tier.attempts:
                return False
            assert isinstance(exc, UpstreamError)  # noqa: S101 - is_retryable checked it
            left = deadline - self.clock.monotonic()
            if exc.retry_after is not None:
                wait = float(exc.retry_after)
            else:
                # Exponential backoff with jitter, like stamina's, but never past the deadline.
                jitter = random.uniform(0, self._backoff / 2)  # noqa: S311 - not security
                wait = min(10.0, self._backoff * 2**retries) + jitter
            if wait >= left - MIN_ATTEMPT_S or not self.budget.try_spend():
                return False  # no time left for another attempt, or the budget is spent
            retries += 1
            _log.info(
                "upstream.retry_scheduled",
                verb=verb,
                tier=tier.name,
                failed_attempt=retries,
                attempts=tier.attempts,
                wait_s=round(wait, 2),
                reason=exc.code,
                upstream_status=exc.upstream_status,
            )
            return wait

        return decide


async def _within(seconds: float, attempt: Callable[[float], Awaitable[T]], verb: str) -> T:
    """One attempt, cut off at `seconds` whatever httpx's per-operation timeouts allow: a body
    that trickles in a byte at a time satisfies every read timeout, never this one."""
    try:
        async with asyncio.timeout(seconds):
            return await attempt(seconds)
    except TimeoutError:
        _log.warning("upstream.attempt_deadline", verb=verb, after_s=round(seconds, 2))
        raise UpstreamTimeout(
            "Databricks did not answer in time", detail="attempt deadline"
        ) from None
