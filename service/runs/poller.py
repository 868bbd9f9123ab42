"""Shared pollers: one poll loop per (run, identity), fanned out to every watcher of that run.

A watch keeps a bounded buffer of numbered events so a reconnecting client gets only what it
missed. Its loop polls fast at first, then every `poll_interval_ms`, backing off while nothing
changes; it ends when the run ends, or shortly after its last watcher leaves, and a finished
watch is kept a while for late resumes.
"""

from __future__ import annotations

import asyncio
import random
import secrets
from collections import deque
from typing import Literal

from anyio.abc import TaskGroup

from service import logs
from service.clock import Clock
from service.config import JobSettings, Settings
from service.errors import SidecarError, Unavailable, UpstreamThrottled
from service.operations import JobOperations
from service.runs.events import RunEvent, json_frame, make_event, parse_event_id, signature
from service.upstream.auth import Identity
from service.upstream.wire import RunSnapshot

MAX_FAILED_POLLS = 3
FIRST_POLL_S = 1.0
IDLE_GRACE_S = 5.0
RETAIN_FINISHED_S = 300.0
EndReason = Literal["done", "error", "dropped", "shutdown", "disconnect"]
_log = logs.library_logger("service.poller")


class End:
    """The last item of a subscription: why it ended, and the frame to send for it, if any."""

    __slots__ = ("frame", "reason")

    def __init__(self, reason: EndReason, frame: bytes | None = None) -> None:
        self.reason = reason
        self.frame = frame


class Subscription:
    """One watcher's bounded queue of events; a watcher that stops reading is dropped.

    Why not asyncio.Queue: with 10,000 open streams its three deques and event cost several KB
    per watcher; a list and one future, made only while the watcher waits, cost a few hundred
    bytes.
    """

    __slots__ = ("_items", "_preloaded", "_size", "_waiter", "ended", "watch")

    def __init__(self, watch: RunWatch, size: int) -> None:
        self.watch = watch
        self._size = size
        self._items: list[RunEvent | End] = []
        self._preloaded = 0
        self._waiter: asyncio.Future[None] | None = None
        self.ended = False

    def offer(self, item: RunEvent | End) -> None:
        if self.ended:
            return
        if isinstance(item, End):
            self.ended = True
            self._items.append(item)  # an ending always fits
        elif len(self._items) < self._size + self._preloaded:
            self._items.append(item)
        else:
            # Too slow to keep up: end this watcher rather than hold back the others. Its
            # client can reconnect with Last-Event-ID and resume from the buffer.
            self.ended = True
            self._items = [End("dropped")]
        if self._waiter is not None and not self._waiter.done():
            self._waiter.set_result(None)

    def preload(self, events: list[RunEvent]) -> None:
        self._items.extend(events)
        self._preloaded = len(events)

    async def next(self) -> RunEvent | End:
        while not self._items:
            self._waiter = asyncio.get_running_loop().create_future()
            try:
                await self._waiter
            finally:
                self._waiter = None
        return self._items.pop(0)


class RunWatch:
    """The state of one run's poll loop: its buffer, latest event and watchers."""

    def __init__(
        self, job: JobSettings, identity: Identity, run_id: int, settings: Settings, clock: Clock
    ) -> None:
        self.job = job
        self.identity = identity
        self.run_id = run_id
        self.epoch = secrets.token_hex(4)
        self.seq = 0
        self.buffer: deque[RunEvent] = deque(maxlen=settings.stream_buffer)
        self.subscribers: set[Subscription] = set()
        self.end: End | None = None
        self.idle_since: float | None = clock.monotonic()
        self._queue_size = settings.stream_queue
        self._clock = clock
        self._signature: tuple[object, ...] | None = None

    @property
    def latest(self) -> RunEvent | None:
        return self.buffer[-1] if self.buffer else None

    @property
    def done(self) -> bool:
        return self.end is not None

    def saw_everything(self, last_event_id: str | None) -> bool:
        """True when the run has ended and the client already has its final event."""
        latest = self.latest
        finished = self.end is not None and self.end.reason == "done"
        return (
            finished
            and latest is not None
            and parse_event_id(last_event_id) == (self.epoch, latest.seq)
        )

    def subscribe(self, last_event_id: str | None = None) -> Subscription:
        sub = Subscription(self, self._queue_size)
        # What a client missed is replayed in full (at most the buffer), not counted against
        # its queue: else a client that missed more than a queue's worth could never resume.
        sub.preload(self._replay(last_event_id))
        if self.end is not None:
            sub.offer(self.end)
        else:
            self.subscribers.add(sub)
            self.idle_since = None
        return sub

    def unsubscribe(self, sub: Subscription) -> None:
        self.subscribers.discard(sub)
        if not self.subscribers and self.idle_since is None:
            self.idle_since = self._clock.monotonic()

    def observe(self, snapshot: RunSnapshot) -> bool:
        """Publish the snapshot if something changed; True when it did."""
        sig = signature(snapshot.run)
        if sig == self._signature:
            return False
        self._signature = sig
        self.seq += 1
        event = make_event(self.epoch, self.seq, snapshot, self._clock.wall_ms())
        self.buffer.append(event)
        for sub in list(self.subscribers):
            sub.offer(event)
        if event.terminal:
            self.finish(End("done"))
        return True

    def finish(self, end: End) -> None:
        self.end = end
        for sub in list(self.subscribers):
            sub.offer(end)
        self.subscribers.clear()

    def _replay(self, last_event_id: str | None) -> list[RunEvent]:
        """What a (re)connecting client gets: what it missed, else the current snapshot."""
        parsed = parse_event_id(last_event_id)
        if parsed is not None and parsed[0] == self.epoch:
            first = self.buffer[0].seq if self.buffer else self.seq + 1
            # Still in the buffer, and not an id this watch never sent (that gets the snapshot).
            if first - 1 <= parsed[1] <= self.seq:
                return [e for e in self.buffer if e.seq > parsed[1]]
        latest = self.latest
        return [latest] if latest is not None else []


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

    def close_all(self) -> None:
        """Shutdown: every watcher gets a final `shutdown` event; no new watches."""
        self.closed = True
        end = End("shutdown", json_frame({"reason": "shutdown"}, event="shutdown"))
        for watch in self._watches.values():
            for sub in list(watch.subscribers):
                sub.offer(end)
            watch.subscribers.clear()

    async def _loop(self, watch: RunWatch, key: tuple[int, str]) -> None:
        # The loop outlives the request that started it and serves every watcher: its lines
        # name the run, not that request.
        logs.request_id.set(None)
        try:
            if not watch.done:
                await self._poll_until_done(watch)
            # A finished run is kept for late resumes; a failed watch is not, so the next
            # watcher starts a fresh one instead of being told the run has ended.
            if watch.end is not None and watch.end.reason == "done":
                await self._clock.sleep(RETAIN_FINISHED_S)
        except Exception as exc:
            # Whatever goes wrong in one run's loop ends that run's watchers, never the
            # lifespan's task group (and with it every other stream).
            _log.error("poller.crashed", run_id=watch.run_id, error=type(exc).__name__)
            body = {"error": "Watching the run failed", "code": "INTERNAL"}
            watch.finish(End("error", json_frame(body, event="error")))
        finally:
            if self._watches.get(key) is watch:
                del self._watches[key]

    async def _poll_until_done(self, watch: RunWatch) -> None:
        interval = self._settings.poll_interval_ms / 1000
        floor = self._settings.poll_floor_ms / 1000
        cap = max(interval, self._settings.poll_max_ms / 1000)
        delay = max(floor, min(FIRST_POLL_S, interval))
        obey_at_most = max(self._settings.poll_retry_after_max_ms / 1000, 10 * interval)
        failures = 0
        unchanged = 0
        while await self._wait(watch, delay):
            self.polls += 1
            try:
                snapshot = await self._ops.poll(watch.job, watch.identity, watch.run_id)
            except SidecarError as exc:
                failures += 1
                _log.warning(
                    "poller.poll_failed", run_id=watch.run_id, failures=failures, code=exc.code
                )
                if failures > MAX_FAILED_POLLS:
                    body = {"error": exc.message, "code": exc.code}
                    watch.finish(End("error", json_frame(body, event="error")))
                    return
                retry_after = exc.retry_after if isinstance(exc, UpstreamThrottled) else None
                # Why capped: an hour's Retry-After would freeze the run's stream, and every
                # watcher who joins it, while the run finishes. Heartbeats go on meanwhile.
                delay = max(floor, interval, min(retry_after or 0.0, obey_at_most))
                continue
            failures = 0
            unchanged = 0 if watch.observe(snapshot) else unchanged + 1
            if watch.done:
                return
            delay = next_delay(interval, unchanged, floor=floor, cap=cap)

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


def next_delay(interval: float, unchanged: int, *, floor: float, cap: float) -> float:
    """`interval` after a change, then x1.5 (with +-10% jitter) per unchanged poll, capped."""
    if unchanged == 0:
        return max(floor, interval)
    jitter = random.uniform(0.9, 1.1)  # noqa: S311 - pacing, not security
    return max(floor, min(cap, interval * 1.5**unchanged * jitter))
