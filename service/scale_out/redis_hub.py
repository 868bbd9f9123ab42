"""The hub over Redis: one poll loop per run across every replica, each change relayed to all.

Per run (and identity), every replica that has watchers runs a small loop: it heartbeats its
presence and tries the run's lease every half interval. The holder polls (with the same pacing
as `PollerHub`) and appends each change once to the run's stream; one reader task per replica
(XREAD BLOCK over every stream it follows) relays the entries to its own watchers, the holder's
included. Event ids come from the shared epoch and the stream's order, so `Last-Event-ID`
resumes on any replica. The lease lives 1.5 intervals: when its holder dies, a watching
replica takes it within two intervals and polls at once (keeping to the poll floor).

While Redis is down (`RedisDown`), new watches are local (the inner `PollerHub`), and a shared
watch whose Redis call fails goes on polling locally under a new epoch until it ends; so does
one whose Redis call is refused (`RedisRefused`: out of memory, a key of another type), or whose
loop crashes. The reader runs under `service.scale_out.redis_tasks.supervise`. See
service/scale_out/shared_run.py for the keys, and for what is done with values that do not fit.
"""

from __future__ import annotations

import asyncio
import contextlib
from typing import cast

import redis.asyncio as redis
from anyio.abc import TaskGroup
from redis.exceptions import RedisError, ResponseError

from service.basics import logs
from service.basics.clock import Clock
from service.basics.errors import Unavailable
from service.jobs.operations import JobOperations
from service.runs.events import RunEvent, epoch_of, new_epoch, signature
from service.runs.hub import (
    IDLE_GRACE_S,
    RETAIN_FINISHED_S,
    PollerHub,
    keep_watching,
    poll_until_done,
)
from service.runs.subscription import End
from service.runs.watch import RunWatch
from service.scale_out.redis_link import BLOCK_MS, PROBE_S, RedisDown, RedisLink
from service.scale_out.redis_tasks import supervise
from service.scale_out.shared_run import SharedRun, decode_entries
from service.settings.config import JobSettings, Settings
from service.upstream.auth import Identity
from service.upstream.wire import RunSnapshot, run_from_raw

_Entry = tuple[bytes, dict[bytes, bytes]]
_log = logs.library_logger("service.poller")


class _Publisher:
    """The holder's side of a stream: number each change and append it while the lease holds."""

    def __init__(
        self, shared: SharedRun, watch: RunWatch, epoch: str, tail: RunEvent | None, clock: Clock
    ):
        self._shared = shared
        self._epoch = epoch
        self._clock = clock
        self._signature: tuple[object, ...] | None = None
        if tail is not None and epoch_of(tail.id) == epoch:
            self.seq = tail.seq
            self._signature = signature(run_from_raw(tail.run).run)
        elif epoch == watch.epoch:
            self.seq = watch.seq  # nothing in the stream yet: on from what the watch has
        else:
            # A new epoch (Redis lost the run): from 1, the current state first, for everyone.
            self.seq = 0
        self.lost = False

    async def observe(self, snapshot: RunSnapshot) -> bool:
        await self._shared.polled()
        sig = signature(snapshot.run)
        if sig == self._signature:
            return False
        if not await self._shared.publish(
            self._epoch, self.seq + 1, self._clock.wall_ms(), snapshot
        ):
            self.lost = True  # another replica holds the lease now: it publishes from here on
            return False
        self.seq += 1
        self._signature = sig
        return True


def _has(watch: RunWatch, event: RunEvent) -> bool:
    return epoch_of(event.id) == watch.epoch and event.seq <= watch.seq


class RedisHub:
    """A `Hub` whose watches are shared by every replica on the same Redis."""

    def __init__(
        self,
        ops: JobOperations,
        settings: Settings,
        clock: Clock,
        tasks: TaskGroup,
        link: RedisLink,
    ) -> None:
        self._ops = ops
        self._settings = settings
        self._clock = clock
        self._tasks = tasks
        self._link = link
        self._local = PollerHub(ops, settings, clock, tasks)
        self._watches: dict[tuple[int, str], RunWatch] = {}
        self._reopening: dict[tuple[int, str], RunSnapshot] = {}
        self._cursors: dict[str, tuple[bytes, RunWatch]] = {}
        self._more = asyncio.Event()
        self._interval = settings.poll_interval_ms / 1000
        self.closed = False
        self.shared_polls = 0
        tasks.start_soon(supervise, link.health, clock, "reader", self._relay)

    @property
    def polls(self) -> int:
        return self.shared_polls + self._local.polls

    def __len__(self) -> int:
        return len(self._watches) + len(self._local)

    def find(self, run_id: int, identity: Identity) -> RunWatch | None:
        return self._watches.get((run_id, identity.key)) or self._local.find(run_id, identity)

    def watch(
        self, job: JobSettings, identity: Identity, run_id: int, initial: RunSnapshot | None = None
    ) -> RunWatch:
        """A local watch (what `join` falls back to while Redis is down)."""
        return self._local.watch(job, identity, run_id, initial)

    async def join(
        self, job: JobSettings, identity: Identity, run_id: int, initial: RunSnapshot | None = None
    ) -> RunWatch:
        """The run's watch: shared when Redis answers, else local; its history loaded first."""
        if self.closed:
            raise Unavailable("The service is shutting down", retry_after=1)
        found = self._watches.get((run_id, identity.key))
        if found is not None:
            return self._rejoin(found, identity)
        if not self._link.up or self._local.find(run_id, identity) is not None:
            return self._local.watch(job, identity, run_id, initial)
        shared = self._shared(run_id, identity)
        watch = RunWatch(job, identity, run_id, self._settings, self._clock)
        try:
            epoch, history = await shared.open(watch.epoch, self._settings.stream_buffer)
        except RedisDown:
            return self._local.watch(job, identity, run_id, initial)
        key = (run_id, identity.key)
        raced = self.find(run_id, identity)  # another caller joined while we asked Redis
        if raced is not None:
            return self._rejoin(raced, identity)
        for _, event in history:
            watch.relay(event)  # the history's epoch, which the shared one may follow
        if not history:
            watch.epoch = epoch
        self._watches[key] = watch
        if not watch.done:
            self._cursors[shared.events] = (history[-1][0] if history else b"0-0", watch)
            self._more.set()
        self._tasks.start_soon(self._loop, watch, key, shared, initial)
        return watch

    def reopen(self, watch: RunWatch, snapshot: RunSnapshot) -> None:
        """Follow a repaired run again: its stream goes on from its final event, which the
        replica holding the lease appends to; this replica reads the stream again from its
        start, taking only what comes after the events it has."""
        key = (watch.run_id, watch.identity.key)
        if self._watches.get(key) is not watch:
            self._local.reopen(watch, snapshot)
            return
        if self.closed:
            raise Unavailable("The service is shutting down", retry_after=1)
        watch.reopen()
        self._reopening[key] = snapshot
        self._cursors[self._shared(watch.run_id, watch.identity).events] = (b"0-0", watch)
        self._more.set()

    def close_all(self) -> None:
        """Shutdown: every watcher gets a final `shutdown` event; no new watches."""
        self.closed = True
        self._local.close_all()
        end = End("shutdown", Unavailable("The service is shutting down"))
        for watch in self._watches.values():
            for sub in list(watch.subscribers):
                sub.offer(end)
            watch.subscribers.clear()

    def _rejoin(self, watch: RunWatch, identity: Identity) -> RunWatch:
        watch.identity = identity  # the same principal, perhaps with a newer token
        return watch

    def _shared(self, run_id: int, identity: Identity) -> SharedRun:
        return SharedRun(
            self._link,
            run_id,
            identity.key,
            lease_ms=round(self._interval * 1500),
            retain_ms=round(RETAIN_FINISHED_S * 1000),
            maxlen=self._settings.stream_buffer,
        )

    async def _loop(
        self,
        watch: RunWatch,
        key: tuple[int, str],
        shared: SharedRun,
        initial: RunSnapshot | None,
    ) -> None:
        async def follow() -> None:
            nonlocal initial
            first, initial = initial, None
            try:
                await self._take_turns(watch, shared, first)
            except RedisDown:
                pass
            # Why every Exception: the lease keeper's crash must not end its watchers while
            # the run can still be polled from here; a crash of that is keep_watching's.
            except Exception as exc:
                self._link.health.crash("lease", exc, restart_in_s=None)
            else:
                return
            self._cursors.pop(shared.events, None)
            if not watch.done and not self.closed:
                # Redis went away, or refused, under this watch: poll from here. Under a new
                # epoch: every other replica watching the run may go on alone as well.
                _log.info("poller.local", run_id=watch.run_id)
                watch.renumber(new_epoch())
                floor = self._settings.poll_floor_ms / 1000  # it may have just polled
                await self._local.poll_locally(watch, first_delay=floor)

        try:
            await keep_watching(watch, follow)
        finally:
            self._cursors.pop(shared.events, None)
            self._reopening.pop(key, None)
            if self._watches.get(key) is watch:
                del self._watches[key]
            if self._link.up and not self.closed:
                with contextlib.suppress(RedisDown):
                    await shared.heartbeat(watching=False)

    async def _take_turns(
        self, watch: RunWatch, shared: SharedRun, initial: RunSnapshot | None
    ) -> None:
        """Contend for the lease every half interval while watched here; poll while it is ours."""
        key = (watch.run_id, watch.identity.key)
        read_at = watch.latest  # what the watch had when `initial` was read
        while not self.closed and not watch.done:
            reopened = self._reopening.pop(key, None)
            if reopened is not None:
                initial, read_at = reopened, watch.latest
            elif watch.latest is not read_at:
                # Events came since it was read: it may be older than they are; a holder
                # taking over later must not publish the run going back.
                initial = None
            await shared.heartbeat(watching=bool(watch.subscribers))
            if await shared.acquire():
                try:
                    await self._poll_as_holder(watch, shared, initial)
                finally:
                    if self._link.up:
                        await shared.release()
                initial = None
                continue
            if self._idle_here(watch):
                return
            await self._clock.sleep(self._interval / 2)

    async def _poll_as_holder(
        self, watch: RunWatch, shared: SharedRun, initial: RunSnapshot | None
    ) -> None:
        epoch = await shared.epoch(new_epoch())
        tail = await shared.tail()
        if watch.done or (tail is not None and tail.terminal and not _has(watch, tail)):
            return  # the run has ended: its final event is in the stream, on its way here
        publisher = _Publisher(shared, watch, epoch, tail, self._clock)
        if initial is not None and (tail is None or tail.terminal):
            # A snapshot the joining caller already read (or, after a final event, the read that
            # found the run repaired): every watcher's next event, at once.
            await publisher.observe(initial)
        since = await shared.since_polled_s()
        floor = self._settings.poll_floor_ms / 1000
        # Taking over: poll at once, but never sooner than the floor after the last poll.
        first = None if since is None else max(0.0, floor - since)

        async def wait(delay: float) -> bool:
            return not publisher.lost and await self._hold(watch, shared, delay)

        def counted() -> None:
            self.shared_polls += 1

        await poll_until_done(
            self._ops,
            self._settings,
            watch,
            wait=wait,
            observe=publisher.observe,
            counted=counted,
            first_delay=first,
        )

    async def _hold(self, watch: RunWatch, shared: SharedRun, delay: float) -> bool:
        """Sleep `delay` while renewing the lease every half interval; False to stop polling:
        the lease is lost, the service closes, or nobody anywhere watches any more."""
        left = delay
        while True:
            step = min(left, self._interval / 2)
            await self._clock.sleep(step)
            left -= step
            if self.closed or watch.done or not await shared.renew():
                return False
            watching = await shared.heartbeat(watching=bool(watch.subscribers))
            if self._idle_here(watch) and watching == 0:
                return False
            if left <= 0:
                return True

    def _idle_here(self, watch: RunWatch) -> bool:
        idle_since = watch.idle_since
        return idle_since is not None and self._clock.monotonic() - idle_since >= IDLE_GRACE_S

    async def _relay(self) -> None:
        """The replica's one reader: every followed stream's new entries, to local watchers."""
        client = self._link.reader
        while True:
            if not self._cursors or not self._link.up:
                self._more.clear()
                with contextlib.suppress(TimeoutError):
                    async with asyncio.timeout(PROBE_S):
                        await self._more.wait()
                continue
            streams = {name: cursor for name, (cursor, _) in self._cursors.items()}
            try:
                reply = await client.xread(streams, count=100, block=BLOCK_MS)  # type: ignore[arg-type]
            except ResponseError as exc:
                self._link.failed(exc)  # refused: the link is up
                await self._drop_unreadable(list(streams))
                continue
            except (RedisError, OSError) as exc:
                self._link.mark_down(exc)
                continue
            for name, entries in cast("list[tuple[bytes, list[_Entry]]]", reply or []):
                self._deliver(name.decode(), entries)

    def _deliver(self, name: str, entries: list[_Entry]) -> None:
        followed = self._cursors.get(name)
        if followed is None:
            return
        watch = followed[1]
        for _, event in decode_entries(entries, watch.run_id, self._link.health):
            watch.relay(event)
        if entries:
            self._cursors[name] = (entries[-1][0], watch)
        if watch.done:
            self._cursors.pop(name, None)

    async def _drop_unreadable(self, names: list[str]) -> None:
        """One XREAD reads every followed stream, and fails whole when one key is not a stream
        (WRONGTYPE): stop reading those, so every other run's watchers are served on. Theirs
        go local when their holder's next write to it is refused as well."""

        async def types(client: redis.Redis) -> list[object]:
            async with client.pipeline(transaction=False) as pipe:
                for name in names:
                    pipe.type(name)
                return await pipe.execute()

        try:
            found = await self._link.run(types)
        except RedisDown:
            found = []
        unreadable = [
            n for n, t in zip(names, found, strict=False) if t not in (b"stream", b"none")
        ]
        for name in unreadable:
            self._cursors.pop(name, None)
            self._link.health.rejection("events")
        if not unreadable:  # refused for another reason: not again at once
            await self._clock.sleep(PROBE_S)
