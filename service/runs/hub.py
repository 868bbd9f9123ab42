"""The hub: every run being watched, one shared poll loop each, behind an interface.

`Hub` is what routes and the Python API need of it; `PollerHub` implements it in one process
(a scale-out hub can implement it again over shared storage). A loop polls fast at first, then
every `poll_interval_ms`, backing off while nothing changes; it ends when the run ends, or
shortly after its last watcher leaves, and a finished watch is kept a while for late resumes.
"""

from __future__ import annotations

import random
from collections.abc import Awaitable, Callable
from typing import Protocol

from anyio.abc import TaskGroup

from service import logs
from service.clock import Clock
from service.config import JobSettings, Settings
from service.errors import SidecarError, Unavailable, UpstreamThrottled
from service.operations import JobOperations
from service.runs.subscription import End
from service.runs.watch import RunWatch
from service.upstream.auth import Identity
from service.upstream.wire import RunSnapshot

MAX_FAILED_POLLS = 3
FIRST_POLL_S = 1.0
IDLE_GRACE_S = 5.0
RETAIN_FINISHED_S = 300.0
_log = logs.library_logger("service.poller")


class Hub(Protocol):
    """Every watch of this service: find one, start or join one, end them all at shutdown."""

    closed: bool

    @property
    def polls(self) -> int:
        """Upstream polls made by this process's loops."""
        ...

    def __len__(self) -> int: ...

    def find(self, run_id: int, identity: Identity) -> RunWatch | None: ...

    def watch(
        self, job: JobSettings, identity: Identity, run_id: int, initial: RunSnapshot | None = None
    ) -> RunWatch: ...

    async def join(
        self, job: JobSettings, identity: Identity, run_id: int, initial: RunSnapshot | None = None
    ) -> RunWatch:
        """`watch`, for a hub that may have to ask shared storage first (service.runs.redis_hub)."""
        ...

    def reopen(self, watch: RunWatch, snapshot: RunSnapshot) -> None:
        """A finished watch's run has started again (a repair): follow it anew from `snapshot`,
        its events numbered on from its final one."""
        ...

    def close_all(self) -> None: ...


class PollerHub:
    """Owns every watch; its loops run in the lifespan's task group."""

    def __init__(
        self, ops: JobOperations, settings: Settings, clock: Clock, tasks: TaskGroup
    ) -> None:
        self._ops = ops
        self._settings = settings
        self._clock = clock
        self._tasks = tasks
        self._watches: dict[tuple[int, str], RunWatch] = {}
        self.closed = False
        self.polls = 0

    def __len__(self) -> int:
        return len(self._watches)

    def find(self, run_id: int, identity: Identity) -> RunWatch | None:
        return self._watches.get((run_id, identity.key))

    def watch(
        self, job: JobSettings, identity: Identity, run_id: int, initial: RunSnapshot | None = None
    ) -> RunWatch:
        """The run's watch, started if needed; `initial` is a snapshot the caller already has."""
        if self.closed:
            raise Unavailable("The service is shutting down", retry_after=1)
        key = (run_id, identity.key)
        watch = self._watches.get(key)
        if watch is None:
            watch = RunWatch(job, identity, run_id, self._settings, self._clock)
            self._watches[key] = watch
            if initial is not None:
                watch.observe(initial)
            self._tasks.start_soon(self._loop, watch, key)
        else:
            # The same principal, perhaps with a newer token: the loop polls with the latest.
            watch.identity = identity
            if initial is not None and watch.latest is None:
                # A watch whose polls have not answered yet (throttled): what the caller read
                # is news to its watchers too.
                watch.observe(initial)
        return watch

    async def join(
        self, job: JobSettings, identity: Identity, run_id: int, initial: RunSnapshot | None = None
    ) -> RunWatch:
        return self.watch(job, identity, run_id, initial)

    def reopen(self, watch: RunWatch, snapshot: RunSnapshot) -> None:
        if self.closed:
            raise Unavailable("The service is shutting down", retry_after=1)
        watch.reopen()
        watch.observe(snapshot)

    def close_all(self) -> None:
        """Shutdown: every watcher gets a final `shutdown` event; no new watches."""
        self.closed = True
        end = End("shutdown", Unavailable("The service is shutting down"))
        for watch in self._watches.values():
            for sub in list(watch.subscribers):
                sub.offer(end)
            watch.subscribers.clear()

    async def _loop(self, watch: RunWatch, key: tuple[int, str]) -> None:
        async def follow() -> None:
            if not watch.done:
                await self._poll_until_done(watch)

        try:
            await keep_watching(watch, follow)
        finally:
            if self._watches.get(key) is watch:
                del self._watches[key]

    async def _poll_until_done(self, watch: RunWatch) -> None:
        await self.poll_locally(watch)

    async def poll_locally(self, watch: RunWatch, first_delay: float | None = None) -> None:
        """Poll the run from this process until it ends or nobody here watches it."""

        async def observe(snapshot: RunSnapshot) -> bool:
            return watch.observe(snapshot)

        def counted() -> None:
            self.polls += 1

        await poll_until_done(
            self._ops,
            self._settings,
            watch,
            wait=lambda delay: self._wait(watch, delay),
            observe=observe,
            counted=counted,
            first_delay=first_delay,
        )

    async def _wait(self, watch: RunWatch, delay: float) -> bool:
        """Sleep `delay`; False to stop instead: on shutdown, or once the run has had no
        watcher for IDLE_GRACE_S. Checked at least that often, so a long back-off or a long
        Retry-After never keeps an unwatched loop alive."""
        left = delay
        while True:
            # Counted in steps slept, not by reading the clock against a wake-up time: a
            # remainder of a few ulps must not become an endless run of zero-length sleeps.
            step = min(left, IDLE_GRACE_S)
            await self._clock.sleep(step)
            left -= step
            if self.closed:
                return False
            idle_since = watch.idle_since
            if idle_since is not None and self._clock.monotonic() - idle_since >= IDLE_GRACE_S:
                _log.debug("poller.idle_stop", run_id=watch.run_id)
                return False
            if left <= 0:
                return True


async def keep_watching(watch: RunWatch, follow: Callable[[], Awaitable[None]]) -> None:
    """One run's loop, in either hub: `follow` the run to its end, then keep a finished run
    for late resumes (and follow it again if a repair reopens it); a crash ends this run's
    watchers only."""
    # The loop outlives the request that started it and serves every watcher: its lines name
    # the run, not that request.
    logs.request_id.set(None)
    try:
        await follow()
        # A finished run is kept for late resumes; a failed watch is not, so the next watcher
        # starts a fresh one instead of being told the run has ended.
        while watch.end is not None and watch.end.reason == "done":
            if not await watch.wait_reopened(RETAIN_FINISHED_S):
                return
            await follow()
    except Exception as exc:
        # Whatever goes wrong in one run's loop ends that run's watchers, never the lifespan's
        # task group (and with it every other stream).
        _log.error("poller.crashed", run_id=watch.run_id, error=type(exc).__name__)
        watch.finish(End("error", SidecarError("Watching the run failed")))


async def poll_until_done(
    ops: JobOperations,
    settings: Settings,
    watch: RunWatch,
    *,
    wait: Callable[[float], Awaitable[bool]],
    observe: Callable[[RunSnapshot], Awaitable[bool]],
    counted: Callable[[], None],
    first_delay: float | None = None,
) -> None:
    """The pacing of one run's polls, wherever its events go: `observe` publishes a snapshot
    (True when it changed something), `wait` sleeps or says stop. Fast at first, then every
    interval, backing off while unchanged; a failing run ends its watchers after a few tries."""
    interval = settings.poll_interval_ms / 1000
    floor = settings.poll_floor_ms / 1000
    cap = max(interval, settings.poll_max_ms / 1000)
    delay = max(floor, min(FIRST_POLL_S, interval)) if first_delay is None else first_delay
    obey_at_most = max(settings.poll_retry_after_max_ms / 1000, 10 * interval)
    failures = 0
    unchanged = 0
    while await wait(delay):
        counted()
        try:
            snapshot = await ops.poll(watch.job, watch.identity, watch.run_id)
        except SidecarError as exc:
            failures += 1
            _log.warning(
                "poller.poll_failed", run_id=watch.run_id, failures=failures, code=exc.code
            )
            if failures > MAX_FAILED_POLLS:
                watch.finish(End("error", exc.with_traceback(None)))
                return
            retry_after = exc.retry_after if isinstance(exc, UpstreamThrottled) else None
            # Why capped: an hour's Retry-After would freeze the run's stream, and every
            # watcher who joins it, while the run finishes. Heartbeats go on meanwhile.
            delay = max(floor, interval, min(retry_after or 0.0, obey_at_most))
            continue
        failures = 0
        unchanged = 0 if await observe(snapshot) else unchanged + 1
        if watch.done or snapshot.run.is_terminal:
            return
        delay = next_delay(interval, unchanged, floor=floor, cap=cap)


def next_delay(interval: float, unchanged: int, *, floor: float, cap: float) -> float:
    """`interval` after a change, then x1.5 (with +-10% jitter) per unchanged poll, capped."""
    if unchanged == 0:
        return max(floor, interval)
    jitter = random.uniform(0.9, 1.1)  # noqa: S311 - pacing, not security
    return max(floor, min(cap, interval * 1.5**unchanged * jitter))
