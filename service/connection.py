"""One client connection: Hypercorn's TCPServer, released when the client goes, its head bounded.

Why this differs from Hypercorn 0.18 (its `hypercorn/asyncio/tcp_server.py`):

- A client that closes its connection between requests left the fd and three tasks behind for
  the whole `keep_alive_timeout` (75 s): `TCPServer.run()` leaves its task group only when the
  idle task ends, and that task waits for the keep-alive timeout whatever the client did
  (pgjones/hypercorn issue 241). Here, once reading has ended (EOF, reset, timeout) the idle
  wait is stopped and never restarted, so the connection closes at once.
- A request head was bounded only in size (`h11_max_incomplete_size`) and by the keep-alive
  timeout; Hypercorn's `read_timeout` bounds every read, so it would also cut event streams whose
  client rightly sends nothing. Here a head has `header_timeout_s`: for a connection's first
  request from its accept, for later ones from their first byte. Past it the client gets a 408
  JSON (if it sent part of a head over HTTP/1.1) and the connection is closed.
- HTTP/1.1 is held to the RFC (service/http1.py): HTTP/2 cleartext refused, heads bounded,
  `Content-Length` with `Transfer-Encoding` refused, refusals in JSON, `Connection: close` said.
  A refused HTTP/2 preface gets HTTP/2's GOAWAY here, and the connection is closed.

tests/e2e/test_serving.py counts the process's fds and cuts slow heads over real sockets: a
Hypercorn upgrade that changes what is overridden here fails there.
"""

from __future__ import annotations

import asyncio
from ssl import SSLError
from typing import Any

import msgspec
import structlog
from hypercorn.asyncio.tcp_server import MAX_RECV, TCPServer
from hypercorn.events import Closed, Event, RawData, Updated
from hypercorn.protocol.h11 import H11Protocol

from service.errors import RequestTimeout, error_body
from service.http1 import HTTP2_REFUSAL, Http2Refused, make_strict

_log = structlog.get_logger("service.connection")


def _timeout_response() -> bytes:
    body = msgspec.json.encode(error_body(RequestTimeout("Request headers not received in time")))
    head = (
        "HTTP/1.1 408 Request Timeout\r\ncontent-type: application/json\r\n"
        f"content-length: {len(body)}\r\nconnection: close\r\n\r\n"
    )
    return head.encode() + body


_HEAD_TIMEOUT = _timeout_response()


class Connection(TCPServer):
    """Hypercorn's connection handler, with the changes described above."""

    def __init__(self, *args: Any, header_timeout_s: float) -> None:
        super().__init__(*args)
        self._header_timeout_s = header_timeout_s
        self._idle = True  # between requests (Hypercorn starts the idle wait before reading)
        self._head_deadline: float | None = self.loop.time() + header_timeout_s
        self._head_started = False  # a byte of the next request's head has arrived
        self._reading = True

    async def protocol_send(self, event: Event) -> None:
        if isinstance(event, Updated):
            # A head was parsed (idle=False) or a response finished (idle=True): the next
            # head's clock starts with its first byte.
            self._idle = event.idle
            self._head_deadline = None
            self._head_started = False
            if event.idle and not self._reading:
                return  # nothing more can arrive: no keep-alive wait, the connection ends
        await super().protocol_send(event)

    async def _read_data(self) -> None:
        # `run()` has just built the protocol: HTTP/1.1 is strict from the first byte.
        if type(self.protocol.protocol) is H11Protocol:
            make_strict(self.protocol.protocol)
        while not self.reader.at_eof():
            deadline = self._head_deadline
            try:
                if deadline is None:  # the common case: no head under way
                    data = await self.reader.read(MAX_RECV)
                else:
                    async with asyncio.timeout_at(deadline):
                        data = await self.reader.read(MAX_RECV)
            except (ConnectionError, OSError, SSLError):  # TimeoutError is an OSError
                if deadline is not None and self.loop.time() >= deadline:
                    self._head_timed_out()
                break
            if self._idle and data:
                self._head_started = True
                if self._head_deadline is None:
                    self._head_deadline = self.loop.time() + self._header_timeout_s
            try:
                await self.protocol.handle(RawData(data))
            except Http2Refused:
                _log.info("connection.http2_refused")
                self.writer.write(HTTP2_REFUSAL)  # `_close()` flushes it and closes
                break
        self._reading = False
        await self.protocol.handle(Closed())
        await self.idle_task.stop()  # the keep-alive wait would only hold the fd

    def _head_timed_out(self) -> None:
        _log.info("connection.head_timeout", started=self._head_started)
        if self._head_started and isinstance(self.protocol.protocol, H11Protocol):
            # Between requests nothing else is being written; `_close()` flushes and closes.
            self.writer.write(_HEAD_TIMEOUT)
