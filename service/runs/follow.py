"""Following a run: the one way routes and the Python API watch a run until it ends.

`follow` finds or starts the run's shared watch (reading the run first when the watch has no
event to give yet), replays what a reconnecting client missed, and returns a `Following`: the
run's events in order, then one `End`, within the job's wait timeout when one is given.
"""

from __future__ import annotations

import asyncio

from service.basics.clock import Clock
from service.basics.errors import WaitTimeout
from service.jobs.operations import JobOperations
from service.runs.events import RunEvent, event_id
from service.runs.hub import Hub
from service.runs.subscription import End, Subscription
from service.runs.watch import RunWatch
from service.settings.config import JobSettings
from service.upstream.auth import Identity


class Following:
    """One watcher of one run; `close()` it when done (streams and `run_and_wait` do)."""

    __slots__ = ("_clock", "_deadline", "_sub", "_wait_timeout_ms", "_watch")

    def __init__(
        self, watch: RunWatch, sub: Subscription, clock: Clock, wait_timeout_ms: int | None
    ) -> None:
        self._watch = watch
        self._sub = sub
        self._clock = clock
        self._wait_timeout_ms = wait_timeout_ms
        self._deadline = (
            None if wait_timeout_ms is None else clock.monotonic() + wait_timeout_ms / 1000
        )

    @property
    def run_id(self) -> int:
        return self._watch.run_id

    @property
    def start_id(self) -> str:
        """The event id before the first event: resuming from it replays them all."""
        return event_id(self._watch.epoch, 0)

    async def next(self, quiet_s: float | None = None) -> RunEvent | End | None:
        """The next event or the ending; None when `quiet_s` passes first (time to heartbeat).

        Past the wait timeout the ending is `timeout`, carrying `WaitTimeout`.
        """
        if self._deadline is not None and self._wait_timeout_ms is not None:
            left = self._deadline - self._clock.monotonic()
            if left <= 0:
                return End("timeout", WaitTimeout(self.run_id, self._wait_timeout_ms))
            quiet_s = left if quiet_s is None else min(quiet_s, left)
        if quiet_s is None:
            return await self._sub.next()
        try:
            async with asyncio.timeout(quiet_s):
                return await self._sub.next()
        except TimeoutError:
            return None

    def stop(self) -> None:
        """The watcher has gone (its client disconnected): end its events now."""
        self._sub.offer(End("disconnect"))

    def close(self) -> None:
        self._watch.unsubscribe(self._sub)


async def follow(
    job: JobSettings,
    identity: Identity,
    run_id: int,
    *,
    hub: Hub,
    ops: JobOperations,
    clock: Clock,
    last_event_id: str | None = None,
    wait_timeout_ms: int | None = None,
    started: bool = False,
) -> Following | None:
    """Follow the run; None when the run has ended and `last_event_id` is its final event.

    `started`: the caller has just triggered the run, so there is nothing to read yet and no
    other job's watch to mistake for it.
    """
    if started:
        watch = await hub.join(job, identity, run_id)
    else:
        found = hub.find(run_id, identity)
        if found is None or found.job.job_id != job.job_id or found.latest is None:
            # No event to give a new watcher at once (its first poll throttled): read one. The
            # read also says whether the run exists and is this job's.
            snapshot = await ops.get_run(job, identity, run_id)
            found = await hub.join(job, identity, run_id, initial=snapshot)
        elif found.end is not None and found.end.reason == "done":
            # A finished run may have been repaired since (a repair makes this read fresh, on
            # every replica): then its watch follows it again rather than replay its old end.
            snapshot = await ops.get_run(job, identity, run_id)
            # A read cached while the run still ran differs too, and is no repair: only a fresh
            # read that differs reopens the watch (else a resumed watcher gets the end twice).
            if found.changed_by(snapshot):
                fresh = await ops.poll(job, identity, run_id)
                if found.changed_by(fresh):
                    hub.reopen(found, fresh)
        watch = found
    if watch.saw_everything(last_event_id):
        return None
    return Following(watch, watch.subscribe(last_event_id), clock, wait_timeout_ms)
