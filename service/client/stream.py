"""Following a run's event stream across connections: frames in, each change out exactly once.

No I/O here: `Client` and `AsyncClient` feed it the lines they read and ask it what to send on
a reconnect (`Last-Event-ID`) and how long to wait first. The service replays what a client
missed after the id it resumes from; when its watch of the run began anew meanwhile (its ids
then have another epoch), it sends the current state, which is dropped here if it is the state
the caller has already seen.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import NamedTuple

import msgspec

from service.client.errors import Unreachable, WatchFailed, stream_error
from service.client.events import RunUpdate, signature

_decode_update = msgspec.json.Decoder(RunUpdate).decode
FIRST_DELAY_S = 0.5
MAX_DELAY_S = 8.0


class Frame(NamedTuple):
    event: str
    data: str
    id: str | None


class FrameReader:
    """Lines of a `text/event-stream` in, whole events out (the parts of the WHATWG rules a
    client of this service needs: data lines joined, comments skipped, `retry`)."""

    def __init__(self) -> None:
        self.retry_ms: int | None = None
        self._event = ""
        self._data: list[str] = []
        self._id: str | None = None

    def line(self, line: str) -> Frame | None:
        if not line:
            if not self._data:
                self._event = ""
                return None
            frame = Frame(self._event or "message", "\n".join(self._data), self._id)
            self._event, self._data = "", []
            return frame
        if line.startswith(":"):
            return None  # a heartbeat
        name, _, value = line.partition(":")
        value = value.removeprefix(" ")
        if name == "data":
            self._data.append(value)
        elif name == "event":
            self._event = value
        elif name == "id" and "\0" not in value:
            self._id = value  # kept for later events, as EventSource keeps it
        elif name == "retry" and value.isascii() and value.isdigit():
            self.retry_ms = int(value)
        return None


def parse_event_id(value: str | None) -> tuple[str, int] | None:
    """The service's ids are `<epoch>-<seq>`: the watch that numbered it, and its place."""
    if not value:
        return None
    epoch, _, seq = value.rpartition("-")
    if not epoch or not (seq.isascii() and seq.isdigit()) or len(seq) > 18:
        return None
    return epoch, int(seq)


class Follow:
    """One watch of one run, across as many connections as it takes.

    Feed it each line read (`line`), tell it when a connection opened (`opened`) or ended
    without the run's end (`dropped`), and wait `delay()` before the next. It raises
    `WatchFailed` for the service's `event: error`, and `Unreachable` once no connection has
    delivered anything for `give_up_s`.
    """

    def __init__(
        self, last_event_id: str | None, *, give_up_s: float, clock: Callable[[], float]
    ) -> None:
        self.last_event_id = last_event_id
        self.finished = False
        self._seen = parse_event_id(last_event_id)
        self._signature: tuple[object, ...] | None = None
        self._give_up_s = give_up_s
        self._clock = clock
        self._reader = FrameReader()
        self._failures = 0
        self._failing_since: float | None = None
        self._wait_s: float | None = None  # what the service asked for (retry:, Retry-After)

    def headers(self) -> dict[str, str]:
        headers = {"Accept": "text/event-stream"}
        if self.last_event_id:
            headers["Last-Event-ID"] = self.last_event_id
        return headers

    def opened(self) -> None:
        """A stream answered: the service is there (the give-up clock starts again)."""
        self._failing_since = None
        retry_ms = self._reader.retry_ms
        self._reader = FrameReader()
        self._reader.retry_ms = retry_ms

    def line(self, line: str) -> RunUpdate | None:
        """The change this line completes, if any (None for a repeat of one already given)."""
        frame = self._reader.line(line)
        if frame is None:
            return None
        if frame.event == "error":
            self.finished = True
            raise stream_error(frame.data)
        if frame.event == "shutdown":
            # The service is stopping: reconnect (to it, or to another replica) when it says.
            retry_ms = self._reader.retry_ms
            self._wait_s = retry_ms / 1000 if retry_ms is not None else None
            return None
        if frame.event != "message":
            return None  # `run` (on a triggered stream) and events this client does not know
        self._failures = 0
        try:
            update = _decode_update(frame.data)
        except (msgspec.DecodeError, RecursionError):
            self.finished = True
            raise WatchFailed(0, "INVALID_EVENT", "An event of the stream is not a run's") from None
        return self._admit(msgspec.structs.replace(update, id=frame.id or ""))

    def _admit(self, update: RunUpdate) -> RunUpdate | None:
        number, seen = parse_event_id(update.id), self._seen
        if number is not None and seen is not None and number[0] == seen[0]:
            if number[1] <= seen[1]:
                return None  # replayed: the caller has it
            repeat = False
        else:
            # Another watch of the run (or ids not the service's): its first event is the
            # run's current state, which the caller may have seen already.
            repeat = signature(update.run) == self._signature
        self._seen = number or seen
        self.last_event_id = update.id or self.last_event_id
        self.finished = update.final
        if repeat:
            return None
        self._signature = signature(update.run)
        return update

    def dropped(self, *, retry_after: float | None = None) -> None:
        """A connection failed, or ended before the run did."""
        if self._failing_since is None:
            self._failing_since = self._clock()
        if retry_after is not None:
            self._wait_s = retry_after

    def delay(self) -> float:
        """Seconds to wait before connecting again: none after a drop of a stream that was
        delivering, then backing off; `Unreachable` when it has failed for too long."""
        assert self._failing_since is not None  # noqa: S101 - called after `dropped`
        if self._clock() - self._failing_since >= self._give_up_s:
            raise Unreachable(
                f"The service sent nothing for {self._give_up_s:g} s while following the run"
            )
        wait, self._wait_s = self._wait_s, None
        backoff = 0.0 if self._failures == 0 else FIRST_DELAY_S * 2 ** (self._failures - 1)
        self._failures += 1
        return min(wait if wait is not None else backoff, MAX_DELAY_S)
