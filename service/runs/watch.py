"""One run's watch: its numbered events, a bounded buffer for resumes, and its watchers."""

from __future__ import annotations

import asyncio
from collections import deque

from service.clock import Clock
from service.config import JobSettings, Settings
from service.runs.events import RunEvent, make_event, new_epoch, parse_event_id, signature
from service.runs.subscription import End, Subscription
from service.upstream.auth import Identity
from service.upstream.wire import RunSnapshot, run_from_raw


class RunWatch:
    """The state of one run's poll loop: its buffer, latest event and watchers."""

    def __init__(
        self, job: JobSettings, identity: Identity, run_id: int, settings: Settings, clock: Clock
    ) -> None:
        self.job = job
        self.identity = identity
        self.run_id = run_id
        self.epoch = new_epoch()
        self.seq = 0
        self.buffer: deque[RunEvent] = deque(maxlen=settings.stream_buffer)
        self.subscribers: set[Subscription] = set()
        self.end: End | None = None
        self.idle_since: float | None = clock.monotonic()
        self._queue_size = settings.stream_queue
        self._clock = clock
        self._signature: tuple[object, ...] | None = None
        # A finished run that started again (a repair): the seq of the final event it had then.
        self.reopened_after: int | None = None
        self._reopened = asyncio.Event()

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

    def changed_by(self, snapshot: RunSnapshot) -> bool:
        """Whether `snapshot` says something the watch's latest event does not."""
        return signature(snapshot.run) != self._signature

    def reopen(self) -> None:
        """The finished run started again (a repair): take events again, numbered on from the
        final one, and wake the retained loop (`wait_reopened`) to follow the run anew."""
        self.end = None
        self.reopened_after = self.seq
        self._reopened.set()

    async def wait_reopened(self, seconds: float) -> bool:
        """While the finished run is retained: True once it is reopened, False after `seconds`."""
        try:
            async with asyncio.timeout(seconds):
                await self._reopened.wait()
        except TimeoutError:
            return False
        self._reopened.clear()
        return True

    def observe(self, snapshot: RunSnapshot) -> bool:
        """Publish the snapshot if something changed; True when it did."""
        sig = signature(snapshot.run)
        if sig == self._signature:
            return False
        self._publish(make_event(self.epoch, self.seq + 1, snapshot, self._clock.wall_ms()), sig)
        return True

    def relay(self, event: RunEvent) -> bool:
        """Publish an event numbered elsewhere (the shared hub); one already seen is ignored."""
        if event.seq <= self.seq or self.end is not None:
            return False
        self._publish(event, signature(run_from_raw(event.run).run))
        return True

    def _publish(self, event: RunEvent, sig: tuple[object, ...]) -> None:
        self._signature = sig
        self.seq = event.seq
        self.buffer.append(event)
        for sub in list(self.subscribers):
            sub.offer(event)
        if event.terminal:
            self.finish(End("done"))

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
        if latest is None or latest.seq == self.reopened_after:
            # Reopened, and no news yet: the old final state is no current state to show.
            return []
        return [latest]
