"""A watcher's subscription to one run: its bounded queue of events, and how it ended."""

from __future__ import annotations

import asyncio
from typing import Literal

from service.basics.errors import SidecarError, Unavailable
from service.runs.events import RunEvent, epoch_of

EndReason = Literal["done", "error", "dropped", "shutdown", "disconnect", "timeout"]


class End:
    """The last item of a subscription: why it ended, and the error to report, if any.

    `done` and `disconnect` carry none; the others carry the error a Python caller gets raised
    and an SSE client gets as its final event (`dropped` and `shutdown` have frames of their own).
    """

    __slots__ = ("error", "reason")

    def __init__(self, reason: EndReason, error: SidecarError | None = None) -> None:
        self.reason = reason
        self.error = error


def _dropped() -> SidecarError:
    return Unavailable("The watcher fell behind and was dropped")


class Subscription:
    """One watcher's bounded queue of events; a watcher that stops reading is dropped.

    Why not asyncio.Queue: with 10,000 open streams its three deques and event cost several KB
    per watcher; a list and one future, made only while the watcher waits, cost a few hundred
    bytes.
    """

    __slots__ = ("_held", "_items", "_preloaded", "_size", "_waiter", "ended")

    def __init__(self, size: int) -> None:
        self._size = size
        self._items: list[RunEvent | End] = []
        self._preloaded = 0
        self._waiter: asyncio.Future[None] | None = None
        self._held: tuple[str, int] | None = None
        self.ended = False

    def holds_through(self, epoch: str, seq: int) -> None:
        """The watcher already has the events of `epoch` up to `seq`: offers of those are
        dropped (a replica that relays them later than another must not send them again)."""
        self._held = (epoch, seq)

    def offer(self, item: RunEvent | End) -> None:
        if self.ended:
            return
        if self._held is not None and isinstance(item, RunEvent):
            if epoch_of(item.id) == self._held[0] and item.seq <= self._held[1]:
                return
            self._held = None
        if isinstance(item, End):
            self.ended = True
            self._items.append(item)  # an ending always fits
        elif len(self._items) < self._size + self._preloaded:
            self._items.append(item)
        else:
            # Too slow to keep up: end this watcher rather than hold back the others. Its
            # client can reconnect with Last-Event-ID and resume from the buffer.
            self.ended = True
            self._items = [End("dropped", _dropped())]
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
