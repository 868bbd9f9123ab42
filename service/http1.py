"""HTTP/1.1 only, held to RFC 9112: Hypercorn's h11 protocol with the refusals it lets through.

Why this differs from Hypercorn 0.18 (`hypercorn/protocol/h11.py`) and h11 0.16:

- HTTP/2 cleartext is not served. Hypercorn switches a connection to HTTP/2 on a prior-knowledge
  preface (`PRI * HTTP/2.0`) or an `Upgrade: h2c`, and its HTTP/2 has none of our head, body or
  idle deadlines (100 connections sending only the preface stayed open over 130 s). The service
  sits behind a proxy that speaks HTTP/1.1 to it, so: a preface gets HTTP/2's own refusal (the
  server preface, then GOAWAY `HTTP_1_1_REQUIRED` with a reason; curl reports "received GOAWAY,
  error=13") and the connection is closed; an `Upgrade: h2c` is ignored, so the request is
  answered in HTTP/1.1 (RFC 9110 §7.8) under the HTTP/1.1 limits.
- A head is at most `MAX_HEAD_BYTES`. h11 bounds only a head that arrives in pieces
  (`max_incomplete_event_size`); one that arrives whole in a read (up to 64 KiB) was served.
- `Content-Length` with `Transfer-Encoding` is a 400 that closes the connection (RFC 9112 §6.1:
  a smuggling attempt). h11 followed Transfer-Encoding and kept the connection, so a request
  pipelined behind it was served.
- Protocol-level refusals (400, 431, 501) get our JSON body, not an empty one; each says
  `Connection: close` and the connection is closed.
- Every response after which the connection is closed says `Connection: close`: one sent
  before the request's body was read (401, 413, ...), which Hypercorn then closes rather than
  read the rest, and those sent while the server stops.
"""

from __future__ import annotations

import dataclasses
import struct

import h11
import msgspec
from hypercorn.protocol.events import Event as StreamEvent
from hypercorn.protocol.events import Response
from hypercorn.protocol.h11 import H11Protocol

from service.errors import ClientError, HeadersTooLarge, InvalidRequest, error_body

MAX_HEAD_BYTES = 16 * 1024  # the request line, the headers and the blank line after them
_PROTOCOL_ERRORS: dict[int, ClientError] = {
    431: HeadersTooLarge(f"Request head is larger than {MAX_HEAD_BYTES} bytes"),
    400: InvalidRequest("Malformed HTTP request"),
}
# The request's body has been read (or it had none): the connection may serve the next request.
# MIGHT_SWITCH_PROTOCOL: an ignored `Upgrade`, which the response declines.
_BODY_READ = frozenset({h11.DONE, h11.MIGHT_SWITCH_PROTOCOL})  # type: ignore[attr-defined]


class Http2Refused(Exception):
    """A client opened with HTTP/2's preface; the connection gets `HTTP2_REFUSAL` and closes."""


def _http2_refusal() -> bytes:
    """HTTP/2's server preface (an empty SETTINGS frame), then GOAWAY HTTP_1_1_REQUIRED."""

    def frame(kind: int, payload: bytes) -> bytes:
        # RFC 9113 §4.1: 24-bit length, type, flags, stream 0.
        return struct.pack(">I", len(payload))[1:] + struct.pack(">BBI", kind, 0, 0) + payload

    settings, goaway, http_1_1_required = 0x4, 0x7, 0xD
    reason = b"HTTP/2 is not served here: use HTTP/1.1"
    return frame(settings, b"") + frame(goaway, struct.pack(">II", 0, http_1_1_required) + reason)


HTTP2_REFUSAL = _http2_refusal()


class StrictConnection(h11.Connection):
    """h11's server side, also refusing a head over `MAX_HEAD_BYTES` and CL with TE."""

    refused: ClientError | None = None  # why the last head was refused, for the error body

    def next_event(self) -> h11.Event | type[h11.NEED_DATA] | type[h11.PAUSED]:
        if self.their_state is not h11.IDLE:  # a body, or nothing to read: h11 as it is
            return super().next_event()
        buffered = len(self.trailing_data[0])
        event = super().next_event()
        if isinstance(event, h11.Request):
            head_bytes = buffered - len(self.trailing_data[0])
            if head_bytes > MAX_HEAD_BYTES:
                self._refuse(_PROTOCOL_ERRORS[431])
            names = {name for name, _ in event.headers}
            if b"content-length" in names and b"transfer-encoding" in names:
                self._refuse(InvalidRequest("Content-Length and Transfer-Encoding together"))
        return event

    def _refuse(self, error: ClientError) -> None:
        self.refused = error
        raise h11.RemoteProtocolError(error.message, error_status_hint=error.status)


class StrictH11(H11Protocol):
    """Hypercorn's HTTP/1.1 protocol with the refusals described above."""

    async def stream_send(self, event: StreamEvent) -> None:
        if isinstance(event, Response) and event.status_code >= 200 and self._closes_after():
            headers = [*event.headers, (b"connection", b"close")]  # h11 merges a repeat
            event = dataclasses.replace(event, headers=headers)
        await super().stream_send(event)

    def _closes_after(self) -> bool:
        """Whether Hypercorn will close once this response ends (see `_maybe_recycle`)."""
        return self.connection.their_state not in _BODY_READ or self.context.terminated.is_set()

    async def _check_protocol(self, event: h11.Request) -> None:
        # Hypercorn's switch to HTTP/2, replaced: `Upgrade: h2c` is left unanswered (so ignored).
        if event.method == b"PRI" and event.target == b"*" and event.http_version == b"2.0":
            raise Http2Refused

    async def _send_error_response(self, status_code: int) -> None:
        refused = self.connection.refused if isinstance(self.connection, StrictConnection) else None
        error = refused or _PROTOCOL_ERRORS.get(status_code, _PROTOCOL_ERRORS[400])
        body = msgspec.json.encode(error_body(error))
        headers = [
            (b"content-type", b"application/json"),
            (b"content-length", str(len(body)).encode()),
            (b"connection", b"close"),
            *self.config.response_headers("h11"),
        ]
        await self._send_h11_event(h11.Response(status_code=status_code, headers=headers))
        await self._send_h11_event(h11.Data(data=body))
        await self._send_h11_event(h11.EndOfMessage())


def make_strict(protocol: H11Protocol) -> None:
    """Turn a Hypercorn HTTP/1.1 protocol that has read nothing yet into a `StrictH11`."""
    protocol.__class__ = StrictH11
    protocol.connection = StrictConnection(
        h11.SERVER, max_incomplete_event_size=protocol.config.h11_max_incomplete_size
    )
