"""Following a stream across connections: frames parsed, changes given once, reconnects paced."""

from __future__ import annotations

import pytest

from service.client import Unreachable, WatchFailed
from service.client.stream import Follow, FrameReader
from tests.client.conftest import EPOCH, frame


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def feed(follow: Follow, *frames: bytes) -> list[str]:
    """The ids of the changes `follow` gives for these frames."""
    given = []
    for chunk in frames:
        for line in chunk.decode().split("\n"):
            update = follow.line(line)
            if update is not None:
                given.append(update.id)
    return given


def follow(last_event_id: str | None = None, clock: Clock | None = None) -> Follow:
    return Follow(last_event_id, give_up_s=60, clock=clock or Clock())


def test_data_lines_are_joined_with_newlines_and_comments_skipped():
    reader = FrameReader()
    lines = [": heartbeat", "retry: 2500", "id: e-1", "event: x", "data: a", "data:b", ""]
    frames = [reader.line(line) for line in lines]
    assert frames[-1] == ("x", "a\nb", "e-1")
    assert frames[:-1] == [None] * 6
    assert reader.retry_ms == 2500


def test_a_replayed_event_is_given_once():
    f = follow()
    assert feed(f, frame(1, "PENDING"), frame(2, "RUNNING")) == [f"{EPOCH}-1", f"{EPOCH}-2"]
    f.opened()  # a reconnect: the service replays from an id the caller has (e.g. a buffer edge)
    assert feed(f, frame(2, "RUNNING"), frame(3, "RUNNING")) == [f"{EPOCH}-3"]
    assert f.headers()["Last-Event-ID"] == f"{EPOCH}-3"


def test_a_new_watch_s_first_event_is_dropped_when_the_caller_has_that_state():
    f = follow()
    feed(f, frame(1, "PENDING"), frame(2, "RUNNING"))
    f.opened()  # the service's watch began anew: other ids, and the current state first
    given = feed(
        f,
        frame(1, "RUNNING", epoch="ffff0000", done=2),
        frame(2, "TERMINATED", "SUCCESS", epoch="ffff0000"),
    )
    assert given == ["ffff0000-2"]
    assert f.finished


def test_a_new_watch_s_first_event_is_given_when_the_state_moved_on():
    f = follow()
    feed(f, frame(1, "PENDING"))
    f.opened()
    assert feed(f, frame(1, "RUNNING", epoch="ffff0000")) == ["ffff0000-1"]


def test_the_final_event_finishes_the_watch():
    f = follow()
    feed(f, frame(1, "PENDING"))
    assert not f.finished
    feed(f, frame(2, "TERMINATED", "FAILED"))
    assert f.finished


def test_an_error_event_raises_with_its_code():
    f = follow()
    data = b'{"error":"polls failed","code":"UPSTREAM_UNAVAILABLE","plugin":"jobs"}'
    with pytest.raises(WatchFailed) as raised:
        feed(f, b"event: error\ndata: " + data + b"\n\n")
    assert (raised.value.code, raised.value.message) == ("UPSTREAM_UNAVAILABLE", "polls failed")


def test_a_drop_mid_run_reconnects_at_once_then_backs_off():
    f = follow()
    feed(f, frame(1, "PENDING"))
    delays = []
    for _ in range(5):
        f.dropped()
        delays.append(f.delay())
    assert delays == [0.0, 0.5, 1.0, 2.0, 4.0]
    feed(f, frame(2, "RUNNING"))  # delivering again: the next drop reconnects at once
    f.dropped()
    assert f.delay() == 0.0


def test_a_shutdown_event_waits_as_the_service_says():
    f = follow()
    feed(f, b'retry: 3000\nevent: shutdown\ndata: {"reason":"shutdown"}\n\n')
    f.dropped()
    assert f.delay() == 3.0


def test_no_stream_for_the_give_up_time_is_unreachable():
    clock = Clock()
    f = follow(clock=clock)
    f.dropped()
    clock.now = 59.0
    f.delay()
    clock.now = 60.0
    with pytest.raises(Unreachable):
        f.delay()


def test_a_stream_that_opens_starts_the_give_up_time_again():
    clock = Clock()
    f = follow(clock=clock)
    f.dropped()
    clock.now = 59.0
    f.opened()
    f.dropped()
    clock.now = 100.0
    assert f.delay() >= 0
