"""Open event streams per caller (`[limits] streams_per_caller`), so no one takes them all.

A place is taken when a stream route starts setting its stream up, and given back when the
stream ends, however it ends (final event, client gone, shutdown, error, stalled client), or at
once when the route answers without a stream (204, an error). The global `max_streams` cap
(`service.runs.streams.StreamGauge`, 503) is counted apart.
"""

from __future__ import annotations

import contextlib
from collections import Counter
from collections.abc import Iterator

from starlette.requests import Request

from service.basics.callers import caller_of
from service.basics.errors import RateLimited
from service.front_door import rate_limits
from service.runs.streams import EventStream

RETRY_AFTER_S = 5  # a place comes free when one of the caller's own streams ends


class CallerStreams:
    """Each caller's open streams (and those being set up); `refusals` counts the 429s."""

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self._held: Counter[str] = Counter()
        self.refusals = 0

    def held(self, caller: str) -> int:
        return self._held[caller]

    @property
    def total(self) -> int:
        """Places held by all callers (streams open or being set up)."""
        return sum(self._held.values())

    @contextlib.contextmanager
    def admit(self, request: Request) -> Iterator[Place]:
        """A place for the request's caller while the route sets its stream up; 429 if none.

        The route hands the place to its stream with `place.hold(stream)`; a place not handed
        over is given back when the block ends.
        """
        caller = caller_of(request).name
        if self._held[caller] >= self.limit:
            self.refusals += 1
            window = rate_limits.Window(self.limit, 0, RETRY_AFTER_S)
            rate_limits.show(request.scope, window)
            raise RateLimited(
                f"Too many open event streams: at most {self.limit} per caller; close one first",
                retry_after=RETRY_AFTER_S,
            )
        self._held[caller] += 1
        place = Place(self, caller)
        try:
            yield place
        finally:
            if not place.handed_over:
                place.release()

    def give_back(self, caller: str) -> None:
        self._held[caller] -= 1
        if self._held[caller] <= 0:
            del self._held[caller]  # a caller with no stream costs no memory


class Place:
    """One caller's place, given back exactly once."""

    __slots__ = ("_caller", "_owner", "handed_over", "released")

    def __init__(self, owner: CallerStreams, caller: str) -> None:
        self._owner = owner
        self._caller = caller
        self.handed_over = False
        self.released = False

    def hold(self, stream: EventStream) -> EventStream:
        """`stream`, which gives the place back when it ends (no wrapper: a frame per stream
        would cost ~1 KB of each of up to `max_streams`)."""
        self.handed_over = True
        stream.on_end = self.release
        return stream

    def release(self) -> None:
        if not self.released:
            self.released = True
            self._owner.give_back(self._caller)
