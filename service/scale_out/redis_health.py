"""What goes wrong with Redis short of losing the link: refused operations, foreign values and
crashed tasks, each counted for /metrics and logged at most once a minute per kind.

Whoever can write to Redis must not be able to fill our logs, so a line per kind a minute
(with how many were not logged). A refusal or a crash in the last minute shows as
`"redis": "degraded"` on /readyz: still ready, since each failed operation was done locally.
"""

from __future__ import annotations

from collections import Counter
from typing import TYPE_CHECKING

from service.basics import logs
from service.basics.clock import Clock

if TYPE_CHECKING:  # redis-py is imported only with REDIS_URL (it costs ~7 MB of RSS)
    from redis.exceptions import ResponseError

QUIET_S = 60.0  # one line per kind this often, and "degraded" this long after a refusal or crash
TASKS = ("circuit", "listener", "reader", "lease")  # the background tasks that may restart
_log = logs.library_logger("service.redis")


class RedisHealth:
    """The counts behind `sidecar_redis_*_total`, and whether Redis is `degraded` right now."""

    def __init__(self, clock: Clock) -> None:
        self._clock = clock
        self.refused: Counter[str] = Counter()  # by redis-py error type (OutOfMemoryError, ...)
        self.rejected: Counter[str] = Counter()  # by what held it (forget, idempotency, ...)
        self.restarts: Counter[str] = Counter()  # by task (TASKS)
        self._last_logged: dict[str, float] = {}
        self._unlogged: Counter[str] = Counter()
        self._troubled_at: float | None = None

    @property
    def degraded(self) -> bool:
        at = self._troubled_at
        return at is not None and self._clock.monotonic() - at < QUIET_S

    def refusal(self, exc: ResponseError) -> None:
        """Redis answered with an error (out of memory, a key of another type): the link is
        fine, this one operation is done locally."""
        error = type(exc).__name__
        self.refused[error] += 1
        self._troubled_at = self._clock.monotonic()
        # Only the type: the text can quote a key, or whatever a script was given.
        self._rarely(f"refused:{error}", "warning", "redis.refused", error=error, mode="local")

    def rejection(self, what: str) -> None:
        """A value read from Redis did not fit its schema: dropped, or read as a miss."""
        self.rejected[what] += 1
        self._rarely(f"rejected:{what}", "warning", "redis.rejected", what=what)

    def crash(self, task: str, exc: BaseException, *, restart_in_s: float | None) -> None:
        """A background task ended with an error it did not expect; it restarts (or, for a
        run's lease keeper, the run is polled locally)."""
        self.restarts[task] += 1
        self._troubled_at = self._clock.monotonic()
        self._rarely(
            f"crash:{task}",
            "error",
            "redis.task_crashed",
            task=task,
            error=type(exc).__name__,
            restart_in_s=restart_in_s,
        )

    def _rarely(self, kind: str, level: str, event: str, **fields: object) -> None:
        now = self._clock.monotonic()
        last = self._last_logged.get(kind)
        if last is not None and now - last < QUIET_S:
            self._unlogged[kind] += 1
            return
        self._last_logged[kind] = now
        unlogged = self._unlogged.pop(kind, 0)
        getattr(_log, level)(event, **fields, **({"unlogged": unlogged} if unlogged else {}))
