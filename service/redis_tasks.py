"""The replica's long-lived Redis tasks (circuit, listener, reader), each restarted when it
crashes, so that nothing read from Redis can end the lifespan's task group.

A task of the lifespan's task group that raises cancels the group: the lifespan then closes
the HTTP client and every later request is a 500, while /livez and /readyz still answer 200.
Every Redis task therefore runs under `supervise`: an error it did not expect is counted
(`sidecar_redis_task_restarts_total`), logged (at most once a minute), shows as
`"redis": "degraded"` on /readyz, and the task starts again after a back-off.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from service.clock import Clock
from service.redis_health import RedisHealth

FIRST_BACKOFF_S = 0.5
MAX_BACKOFF_S = 30.0
STEADY_S = 60.0  # a task that ran this long before it crashed restarts at the first back-off


async def supervise(
    health: RedisHealth, clock: Clock, task: str, run: Callable[[], Awaitable[None]]
) -> None:
    """Run `run()` for the life of the task group; after a crash, again after a back-off
    (doubling up to MAX_BACKOFF_S while it keeps crashing). Cancellation ends it."""
    backoff = FIRST_BACKOFF_S
    while True:
        started = clock.monotonic()
        try:
            await run()
        # Why every Exception: this is the boundary that keeps one task's bug, or a value
        # nobody foresaw, from ending the services; cancellation (BaseException) passes.
        except Exception as exc:
            if clock.monotonic() - started >= STEADY_S:
                backoff = FIRST_BACKOFF_S
            health.crash(task, exc, restart_in_s=backoff)
        else:
            return
        await clock.sleep(backoff)
        backoff = min(backoff * 2, MAX_BACKOFF_S)
