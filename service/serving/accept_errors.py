"""Accepts that fail for lack of fds: one log line a second with a count, never a traceback each.

When accept() fails with EMFILE/ENFILE/ENOBUFS/ENOMEM, asyncio stops accepting on that socket,
retries a second later, and reports each failure to the loop's exception handler, whose default
writes a full traceback every time. The pending connections wait in the kernel's backlog and
are accepted once fds are free again; what an operator needs is that it happens, and how often.
"""

from __future__ import annotations

import asyncio
import errno
from typing import Any

import structlog

_log = structlog.get_logger("service.serve")
# The message asyncio's selector loop reports these failures with (base_events/selector_events).
OUT_OF_RESOURCES = "socket.accept() out of system resource"


class AcceptFailureLog:
    """A loop exception handler: accept failures counted and logged at most once per interval."""

    def __init__(self, *, interval_s: float = 1.0) -> None:
        self.interval_s = interval_s
        self.total = 0
        self._unlogged = 0
        self._logged_at: float | None = None

    def __call__(self, loop: asyncio.AbstractEventLoop, context: dict[str, Any]) -> None:
        if context.get("message") != OUT_OF_RESOURCES:
            loop.default_exception_handler(context)
            return
        self.total += 1
        self._unlogged += 1
        now = loop.time()
        if self._logged_at is not None and now - self._logged_at < self.interval_s:
            return
        exc = context.get("exception")
        code = getattr(exc, "errno", None)
        _log.error(
            "serve.accept_failed",
            error=errno.errorcode.get(code, "unknown") if code is not None else "unknown",
            failures=self._unlogged,
            total=self.total,
        )
        self._unlogged = 0
        self._logged_at = now
