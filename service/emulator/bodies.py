"""Injected reply bodies: a 200 that is not JSON, a huge body, and a body that trickles in."""

from __future__ import annotations

import asyncio
import contextlib
from typing import Literal

from starlette.types import ASGIApp, Message, Receive, Scope, Send

Garble = Literal["html", "not_json", "not_object"]
_GARBLED: dict[str, tuple[bytes, bytes]] = {
    # A sign-in page, as a proxy or an SSO gateway in front of the workspace answers.
    "html": (b"text/html; charset=utf-8", b"<html><body><h1>Sign in</h1></body></html>"),
    # A complete HTTP message holding half a JSON object.
    "not_json": (b"application/json", b'{"run_id": 1, "state": {"life_cycle_'),
    "not_object": (b"application/json", b"[]"),
}
_CHUNK = 64 * 1024


async def send_garbled(kind: Garble, send: Send) -> None:
    """A 200 whose body is not the JSON object the endpoint promises."""
    content_type, body = _GARBLED[kind]
    headers = [(b"content-type", content_type), (b"content-length", str(len(body)).encode())]
    await send({"type": "http.response.start", "status": 200, "headers": headers})
    await send({"type": "http.response.body", "body": body})


async def send_huge(size: int, send: Send) -> None:
    """A 200 JSON object of `size` bytes, made and sent a chunk at a time (never held whole)."""
    head, tail = b'{"padding": "', b'"}'
    headers = [(b"content-type", b"application/json")]  # chunked: no length announced
    await send({"type": "http.response.start", "status": 200, "headers": headers})
    await send({"type": "http.response.body", "body": head, "more_body": True})
    left = max(0, size - len(head) - len(tail))
    while left > 0:
        step = min(_CHUNK, left)
        await send({"type": "http.response.body", "body": b"x" * step, "more_body": True})
        left -= step
        await asyncio.sleep(0)  # let a hung-up client's disconnect through
    await send({"type": "http.response.body", "body": tail})


async def trickle(app: ASGIApp, scope: Scope, receive: Receive, send: Send, delay_s: float) -> None:
    """The real answer, its body sent one byte every `delay_s`, until the client hangs up."""
    gone = asyncio.Event()
    listeners: list[asyncio.Task[None]] = []

    async def listen() -> None:
        while (await receive())["type"] != "http.disconnect":
            pass
        gone.set()

    async def slow_send(message: Message) -> None:
        if message["type"] != "http.response.body":
            # The app has its request by now: what comes next from the client is its leaving.
            listeners.append(asyncio.create_task(listen()))
            await send(message)
            return
        body: bytes = message.get("body", b"")
        for index in range(len(body)):
            await asyncio.sleep(delay_s)
            if gone.is_set():
                return
            chunk = body[index : index + 1]
            await send({"type": "http.response.body", "body": chunk, "more_body": True})
        more = message.get("more_body", False)
        await send({"type": "http.response.body", "body": b"", "more_body": more})

    try:
        await app(scope, receive, slow_send)
    finally:
        for listener in listeners:  # the listener belongs to this call: ended with it
            listener.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await listener
