"""HTTP/1.1 held to the RFC, byte by byte: the head bound, CL with TE, HTTP/2's refusal.

Over real sockets (the connection closing, what a pipelined request behind meets, fds):
tests/e2e/test_http1_e2e.py.
"""

from __future__ import annotations

import h2.config
import h2.connection
import h2.errors
import h2.events
import h11
import pytest

from service.http1 import HTTP2_REFUSAL, MAX_HEAD_BYTES, StrictConnection


def head_of(size: int) -> bytes:
    """A GET whose head (request line, headers, blank line) is exactly `size` bytes."""
    start = b"GET /livez HTTP/1.1\r\nHost: localhost\r\nX-Pad: "
    return start + b"a" * (size - len(start) - 4) + b"\r\n\r\n"


def first_event(data: bytes) -> object:
    connection = StrictConnection(h11.SERVER, max_incomplete_event_size=MAX_HEAD_BYTES)
    connection.receive_data(data)
    return connection.next_event()


def test_a_head_of_the_limit_arriving_whole_is_read():
    assert isinstance(first_event(head_of(MAX_HEAD_BYTES)), h11.Request)


@pytest.mark.parametrize("size", [MAX_HEAD_BYTES + 1, 17 * 1024, 63 * 1024])
def test_a_head_over_the_limit_arriving_whole_is_431(size):
    with pytest.raises(h11.RemoteProtocolError) as refused:
        first_event(head_of(size))
    assert refused.value.error_status_hint == 431


def test_content_length_with_transfer_encoding_is_400():
    request = (
        b"POST /api/jobs/etl/run HTTP/1.1\r\nHost: localhost\r\nContent-Length: 5\r\n"
        b"Transfer-Encoding: chunked\r\n\r\n0\r\n\r\n"
    )
    with pytest.raises(h11.RemoteProtocolError, match="Content-Length and Transfer-Encoding"):
        first_event(request)


def test_http2_clients_read_the_refusal_as_goaway_http_1_1_required():
    client = h2.connection.H2Connection(h2.config.H2Configuration(client_side=True))
    client.initiate_connection()
    events = client.receive_data(HTTP2_REFUSAL)
    goaway = [event for event in events if isinstance(event, h2.events.ConnectionTerminated)]
    assert len(goaway) == 1
    assert goaway[0].error_code == h2.errors.ErrorCodes.HTTP_1_1_REQUIRED
    assert goaway[0].additional_data == b"HTTP/2 is not served here: use HTTP/1.1"
