"""What a request body may cost: at most `max_body_bytes` (413), arriving within a deadline (408).

Pure ASGI. Requests that carry no body (GET, HEAD) pass straight through, so the hot read
routes pay one dictionary lookup; for the rest `receive` is wrapped until the body has ended.
A declared `Content-Length` past the limit is answered at once, before a byte of the body is
read; a chunked body is counted as it streams and refused the moment it passes the limit. In
both cases the rest is never read: Hypercorn closes a connection whose request body was left
unread, and its per-request queue (`max_app_queue_size` chunks) is the most it ever holds.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from service.basics.errors import PayloadTooLarge, RequestTimeout
from service.front_door.error_response import error_response

_BODILESS = frozenset({"GET", "HEAD"})


class BodyLimits:
    """Refuse request bodies that are too large (413) or too slow to arrive (408)."""

    def __init__(self, app: ASGIApp, *, max_bytes: int, timeout_s: float) -> None:
        self.app = app
        self.max_bytes = max_bytes
        self.timeout_s = timeout_s

    def __call__(self, scope: Scope, receive: Receive, send: Send) -> Awaitable[None]:
        # A tail call for what has no body: no frame of ours held for a request's (or an event
        # stream's) whole life.
        if scope["type"] != "http" or scope["method"] in _BODILESS:
            return self.app(scope, receive, send)
        return self._bounded(scope, receive, send)

    async def _bounded(self, scope: Scope, receive: Receive, send: Send) -> None:
        if _declared_length(scope) > self.max_bytes:
            await error_response(self._too_large())(scope, receive, send)
            return
        # Loop time, as every timer in the process (see service/basics/clock.py): tests drive it.
        deadline = asyncio.get_running_loop().time() + self.timeout_s
        received = 0
        ended = False

        async def bounded_receive() -> Message:
            nonlocal received, ended
            if ended:  # the body is in: later receives wait for a disconnect, unbounded
                return await receive()
            try:
                async with asyncio.timeout_at(deadline):
                    message = await receive()
            except TimeoutError:
                raise RequestTimeout("Request body not received in time") from None
            if message["type"] != "http.request":
                ended = True
                return message
            received += len(message.get("body", b""))
            if received > self.max_bytes:
                raise self._too_large()
            ended = not message.get("more_body", False)
            return message

        await self.app(scope, bounded_receive, send)

    def _too_large(self) -> PayloadTooLarge:
        return PayloadTooLarge(f"Request body is larger than {self.max_bytes} bytes")


def _declared_length(scope: Scope) -> int:
    """The Content-Length header, 0 without one (Hypercorn has already refused a malformed one)."""
    for name, value in scope["headers"]:
        if name == b"content-length":
            return int(value) if value.isdigit() else 0
    return 0
