"""One run's watch: its numbered events, a bounded buffer for resumes, and its watchers.

An event id (`<epoch>-<seq>`) names one event forever. Where the numbering cannot go on (Redis
lost the run's stream, or this replica goes on alone), it starts again at 1 under a new epoch
(`renumber`); the events held keep their ids, so a client that had one resumes from it here,
and one whose id this watch cannot place gets the current state, as a fresh start.
"""

from __future__ import annotations

import asyncio
from collections import deque

from service.basics.clock import Clock
from service.runs.events import (
    RunEvent,
    epoch_of,
    make_event,
    new_epoch,
    parse_event_id,
    signature,
)
from service.runs.subscription import End, Subscription
from service.settings.config import JobSettings, Settings
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
        # A finished run that started again (a repair): the id of the final event it had then.
        self.reopened_after: str | None = None
        self._retired: list[str] = []  # epochs numbered under before; never taken again
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
            and parse_event_id(last_event_id) == parse_event_id(latest.id)
        )

    def subscribe(self, last_event_id: str | None = None) -> Subscription:
        sub = Subscription(self._queue_size)
        ahead = self._not_relayed_yet(last_event_id)
        if ahead is not None:
            # The client is ahead of this replica (another relayed its last event sooner):
            # nothing to replay, and what comes up to that event it has already.
            sub.holds_through(*ahead)
        else:
            # What a client missed is replayed in full (at most the buffer), not counted
            # against its queue: else one that missed more than a queue's worth never resumes.
            sub.preload(self._replay(last_event_id))
        if self.end is not None:
            sub.offer(self.end)
        else:
            self.subscribers.add(sub)
            self.idle_since = None
        return sub

    def _not_relayed_yet(self, last_event_id: str | None) -> tuple[str, int] | None:
        """The client's last event when it is one of this epoch that this live watch has not
        had yet. (No client is ahead of a finished watch: such an id is none of ours.)"""
        parsed = parse_event_id(last_event_id)
        if self.end is None and parsed is not None and parsed[0] == self.epoch:
            return parsed if parsed[1] > self.seq else None
        return None

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
        self.reopened_after = self.latest.id if self.latest is not None else None
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
        """Publish an event numbered elsewhere (the shared hub); one already seen is ignored,
        as is one of an epoch left behind. An event of a new epoch starts its numbering here."""
        epoch = epoch_of(event.id)
        if self.end is not None or epoch in self._retired:
            return False
        if epoch == self.epoch and event.seq <= self.seq:
            return False
        if epoch != self.epoch:
            self.renumber(epoch)
        self._publish(event, signature(run_from_raw(event.run).run))
        return True

    def renumber(self, epoch: str) -> None:
        """Number on from 1 under `epoch`: the old numbering cannot go on (see the module)."""
        self._retired.append(self.epoch)
        del self._retired[:-8]  # a few: only a straggler of the last ones can come
        self.epoch = epoch
        self.seq = 0

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
        if parsed is not None:
            events = list(self.buffer)
            # Found by id, not by seq: the buffer may span epochs (see `renumber`).
            for n, event in enumerate(events):
                if parse_event_id(event.id) == parsed:
                    return events[n + 1 :]
            # An id of an epoch left behind, past its last event here: another replica
            # relayed it sooner, and this one has numbered on under a new epoch since; what
            # came under the later epochs is what the client has not had.
            of_epoch = [n for n, event in enumerate(events) if epoch_of(event.id) == parsed[0]]
            if parsed[0] != self.epoch and of_epoch and events[of_epoch[-1]].seq < parsed[1]:
                return events[of_epoch[-1] + 1 :]
            # The id just before the buffer's first (or this epoch's start): all of it.
            before = parse_event_id(events[0].id) if events else None
            if parsed == (self.epoch, 0) or (
                before is not None and parsed == (before[0], before[1] - 1)
            ):
                return events
        latest = self.latest
        if latest is None or latest.id == self.reopened_after:
            # Reopened, and no news yet: the old final state is no current state to show.
            return []
        return [latest]
