"""Stream places per caller: taken while a stream is set up, given back once however it ends."""

from __future__ import annotations

import contextlib

import pytest
from starlette.requests import Request

from service.basics.callers import SCOPE_KEY, Caller
from service.basics.errors import RateLimited
from service.front_door import rate_limits
from service.front_door.response_headers import RESPONSE_HEADERS
from service.front_door.stream_quota import RETRY_AFTER_S, CallerStreams


def request_of(name: str) -> Request:
    return Request({"type": "http", "method": "GET", "headers": [], SCOPE_KEY: Caller(name)})


async def never_called(_message):
    raise AssertionError("not called")


async def test_a_caller_at_the_cap_is_429_with_its_window_while_another_is_served():
    streams = CallerStreams(1)
    alice = request_of("alice")
    with streams.admit(alice), pytest.raises(RateLimited) as refused, streams.admit(alice):
        pass
    assert refused.value.retry_after == RETRY_AFTER_S
    assert streams.refusals == 1
    with streams.admit(alice), streams.admit(request_of("bob")):
        assert (streams.held("alice"), streams.held("bob")) == (1, 1)


def test_the_refusal_sets_the_ratelimit_headers_window():
    streams = CallerStreams(1)
    refused = request_of("alice")
    with streams.admit(request_of("alice")), pytest.raises(RateLimited), streams.admit(refused):
        pass
    window = rate_limits.Window(1, 0, RETRY_AFTER_S)
    assert refused.scope[RESPONSE_HEADERS] == rate_limits.headers(window)


@pytest.mark.parametrize("ending", ["answer without a stream", "error while setting up"])
def test_a_place_not_handed_to_a_stream_is_given_back_when_the_route_ends(ending):
    streams = CallerStreams(1)
    failing = ending.startswith("error")
    expected = pytest.raises(LookupError, match="lookup") if failing else contextlib.nullcontext()
    with expected, streams.admit(request_of("alice")):
        if failing:
            raise LookupError("lookup failed")
    assert streams.total == 0


class Ending:
    """What a place needs of a stream (service.runs.streams.EventStream): its `on_end` hook,
    which the stream runs once it has ended, however it ends (tests/e2e/test_limits_e2e.py
    shows each ending over real sockets)."""

    on_end = None


def test_a_held_place_is_given_back_once_when_its_stream_ends():
    streams = CallerStreams(2)
    stream = Ending()
    with streams.admit(request_of("alice")) as place:
        assert place.hold(stream) is stream  # no wrapper around the stream
    assert streams.held("alice") == 1  # handed over: the stream keeps it
    stream.on_end()
    stream.on_end()  # a second ending changes nothing
    assert streams.held("alice") == 0
    assert streams.total == 0
