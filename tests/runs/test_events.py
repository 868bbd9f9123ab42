"""Run events: what counts as a change, event ids, and the SSE frames every watcher shares."""

from __future__ import annotations

import json

import msgspec
import pytest

from service.basics.errors import Unavailable
from service.runs.events import (
    error_frame,
    event_id,
    frame,
    make_event,
    parse_event_id,
    signature,
)
from service.upstream.wire import decode_run
from tests.factories import make_run, make_task, sse_events


def snapshot(**run: object):
    return decode_run(msgspec.json.encode(make_run(**run)))


def test_an_event_carries_its_id_the_status_and_the_run_as_upstream_sent_it():
    run = make_run(7, state="TERMINATED", result="SUCCESS")
    event = make_event("w1", 3, decode_run(msgspec.json.encode(run)), timestamp=1_700_000_000_000)
    (sent,) = sse_events(event.frame.decode())
    assert (event.id, event.seq, event.status, event.terminal) == ("w1-3", 3, "TERMINATED", True)
    assert (sent["id"], sent["event"]) == ("w1-3", "message")
    assert json.loads(sent["data"]) == {
        "status": "TERMINATED",
        "result": "SUCCESS",
        "timestamp": 1_700_000_000_000,
        "run": run,
    }


def test_a_running_run_s_event_is_not_terminal():
    assert not make_event("w1", 1, snapshot(state="RUNNING"), timestamp=0).terminal


def test_timings_are_not_a_change_but_states_and_task_states_are():
    base = snapshot(tasks=[make_task("a", 1, state="RUNNING")]).run
    later = snapshot(tasks=[make_task("a", 1, state="RUNNING")], end_time=99, start_time=1).run
    task_done = snapshot(tasks=[make_task("a", 1)]).run
    finished = snapshot(state="TERMINATED", tasks=[make_task("a", 1, state="RUNNING")]).run
    assert signature(later) == signature(base)
    assert signature(task_done) != signature(base)
    assert signature(finished) != signature(base)


@pytest.mark.parametrize("data", [b'{\n  "a": 1\n}\n', b'{\r\n"a": 1}\r\n', b'{"a":\r1}'])
def test_data_with_line_breaks_goes_one_line_per_data_field_and_reads_back_whole(data):
    sent = frame(data, event="message", event_id="w1-1")
    assert b"\r" not in sent
    assert sent.endswith(b"\n\n")
    assert sent.count(b"\n\n") == 1  # one event, however many lines
    # As EventSource does: every data line, joined by newlines.
    lines = sent.decode().split("\n")
    assert lines[:2] == ["id: w1-1", "event: message"]
    data = "\n".join(line.removeprefix("data: ") for line in lines[2:] if line)
    assert all(line.startswith("data: ") for line in lines[2:] if line)
    assert json.loads(data) == {"a": 1}


def test_an_error_frame_is_the_error_response_body():
    (event,) = sse_events(error_frame(Unavailable("The workspace is unavailable")).decode())
    assert event["event"] == "error"
    assert "id" not in event  # an error is not a place to resume from
    assert json.loads(event["data"]) == {
        "error": "The workspace is unavailable",
        "code": "UNAVAILABLE",
        "plugin": "jobs",
    }


@pytest.mark.parametrize(
    ("epoch", "seq"), [("w1", 0), ("3f2a-9c", 12), ("x", 999_999_999_999_999_999)]
)
def test_an_event_id_reads_back_as_its_watch_and_number(epoch, seq):
    assert parse_event_id(event_id(epoch, seq)) == (epoch, seq)
    assert parse_event_id(f"  {event_id(epoch, seq)} ") == (epoch, seq)


@pytest.mark.parametrize(
    "value",
    [None, "", "12", "-12", "w1-", "w1-x", "w1-\u00b2", "w1-\u0661", "w1-" + "9" * 19, "w1-1.5"],
)
def test_an_id_that_is_not_ours_reads_as_none(value):
    assert parse_event_id(value) is None
