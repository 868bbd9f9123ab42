"""Run events: what changed in a run, as a status event and as its Server-Sent Events frame."""

from __future__ import annotations

import re
import secrets
from typing import Annotated

import msgspec

from service.basics.errors import SidecarError, error_body
from service.upstream.wire import Run, RunSnapshot, schema_of

_encoder = msgspec.json.Encoder()
_EPOCH = re.compile("[0-9a-f]{8}")


class Waiting(msgspec.Struct, frozen=True):
    """Why a queued run waits: `code` for programs (MAX_CONCURRENT_RUNS_REACHED,
    ACTIVE_RUNS_LIMIT_REACHED, ...), `reason` for people; either may be null."""

    code: str | None
    reason: str | None


def waiting(run: Run) -> Waiting | None:
    """Why the run waits in a queue; None when it does not."""
    code, reason = run.queue_code, run.queue_reason
    return None if code is None and reason is None else Waiting(code=code, reason=reason)


class StatusData(msgspec.Struct, frozen=True, omit_defaults=True):
    """A `message` event: the run's life-cycle state, its outcome (`result`, null while it
    runs), when we saw it (ms since the epoch), the whole run as Databricks sent it, and why it
    waits (`queue`, only while it is queued)."""

    status: str | None
    result: str | None
    timestamp: int
    run: Annotated[msgspec.Raw, schema_of(Run)]
    queue: Waiting | None = None


class RunEvent(msgspec.Struct, frozen=True):
    """One change of a run, numbered within its watch; `frame` is encoded once for all clients."""

    id: str
    seq: int
    status: str | None
    timestamp: int
    run: msgspec.Raw
    terminal: bool
    frame: bytes


def signature(run: Run) -> tuple[object, ...]:
    """What counts as a change: state, result, why it waits and each task's state; not
    timings."""
    state = run.state
    return (
        state.life_cycle_state if state else None,
        state.result_state if state else None,
        run.status.state if run.status else None,
        run.queue_code,
        run.queue_reason,
        tuple(
            (
                t.task_key,
                t.run_id,
                t.state.life_cycle_state if t.state else None,
                t.state.result_state if t.state else None,
            )
            for t in run.tasks
        ),
    )


def new_epoch() -> str:
    """A watch's epoch: 8 lowercase hex digits (what `is_epoch` accepts back from Redis)."""
    return secrets.token_hex(4)


def is_epoch(value: str) -> bool:
    """One of ours: nothing else may become an event id (an id holding a newline would end the
    `id:` line of every watcher's frame and start a field, or an event, of its own)."""
    return _EPOCH.fullmatch(value) is not None


def event_id(epoch: str, seq: int) -> str:
    """`<epoch>-<seq>`: which watch sent the event, and its place in that watch's order."""
    return f"{epoch}-{seq}"


def epoch_of(event_id: str) -> str:
    """The epoch of one of our event ids."""
    return event_id.rpartition("-")[0]


def make_event(epoch: str, seq: int, snapshot: RunSnapshot, timestamp: int) -> RunEvent:
    number = event_id(epoch, seq)
    status = snapshot.run.life_cycle_state
    data = _encoder.encode(
        StatusData(
            status=status,
            result=snapshot.run.result,
            timestamp=timestamp,
            run=snapshot.raw,
            queue=waiting(snapshot.run),
        )
    )
    return RunEvent(
        id=number,
        seq=seq,
        status=status,
        timestamp=timestamp,
        run=snapshot.raw,
        terminal=snapshot.run.is_terminal,
        frame=frame(data, event="message", event_id=number),
    )


def frame(data: bytes, *, event: str | None = None, event_id: str | None = None) -> bytes:
    """One SSE frame. JSON escapes line breaks inside strings, but the run's bytes come from
    upstream as sent, whitespace included (pretty-printed, a trailing newline): each line of
    it goes on a `data:` line of its own, which the client joins back with newlines."""
    parts = []
    if event_id is not None:
        parts.append(b"id: " + event_id.encode())
    if event is not None:
        parts.append(b"event: " + event.encode())
    if b"\n" in data or b"\r" in data:
        lines = data.replace(b"\r\n", b"\n").replace(b"\r", b"\n").split(b"\n")
        parts.extend(b"data: " + line for line in lines)
    else:
        parts.append(b"data: " + data)
    return b"\n".join(parts) + b"\n\n"


def json_frame(payload: object, *, event: str, event_id: str | None = None) -> bytes:
    return frame(_encoder.encode(payload), event=event, event_id=event_id)


def error_frame(error: SidecarError) -> bytes:
    """The final `error` event: the same body an HTTP error response has."""
    return json_frame(error_body(error), event="error")


def parse_event_id(value: str | None) -> tuple[str, int] | None:
    """`<epoch>-<seq>` from a Last-Event-ID; None when absent or not one of ours."""
    if not value:
        return None
    epoch, _, seq = value.strip().rpartition("-")
    # Ours are ASCII digits well under 19 of them; `isdigit` alone admits "²", which int()
    # refuses, and int() refuses more than 4,300 digits.
    if not epoch or not (seq.isascii() and seq.isdigit()) or len(seq) > 18:
        return None
    return epoch, int(seq)
