"""Logging, configured in one place: JSON lines outside a terminal, console lines in one."""

from __future__ import annotations

import logging
import re
import sys
import time
from collections.abc import MutableMapping
from contextvars import ContextVar
from typing import Any

import msgspec
import stamina.instrumentation
import structlog

# The request being served, set by the access-log middleware for every line logged meanwhile.
request_id: ContextVar[str | None] = ContextVar("request_id", default=None)

# Values msgspec cannot encode (an exception, a path) are logged as text, never crash a line.
_encoder = msgspec.json.Encoder(enc_hook=str)
_SECRET_KEYS = frozenset(
    {"token", "authorization", "client_secret", "access_token", "password", "secret"}
)
_LEVELS = {"warn": "warning", "exception": "error"}  # as structlog's add_log_level names them
# Token-like text: Databricks tokens and secrets, an Authorization value, a JWT.
_TOKEN_LIKE = re.compile(
    r"(?P<bearer>\b(?i:bearer)\s+)[A-Za-z0-9._~+/=-]+"
    r"|\bdapi[A-Za-z0-9_-]{8,}"
    r"|\b(?:dkea|dose)[0-9a-f]{16,}"
    r"|\beyJ[A-Za-z0-9_-]*\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]*"
)
_ACCESS_EVENT = "http.request"  # the one line per request: its values are ours, not scanned
UPSTREAM_TEXT_MAX = 200


def _masked(match: re.Match[str]) -> str:
    return f"{match['bearer']}***" if match["bearer"] else "***"


def redact(text: str) -> str:
    """`text` with token-like strings replaced by `***`."""
    return _TOKEN_LIKE.sub(_masked, text)


def upstream_text(text: str | None) -> str | None:
    """Text Databricks sent, fit for a log line: token-like strings masked, then truncated."""
    if text is None:
        return None
    masked = redact(text[: UPSTREAM_TEXT_MAX * 4])  # a token cut in half is still masked
    return masked if len(masked) <= UPSTREAM_TEXT_MAX else masked[:UPSTREAM_TEXT_MAX] + "…"


class _Stamp:
    """Adds the request id, level and an ISO 8601 UTC timestamp, and masks secrets.

    One processor rather than structlog's four (merge_contextvars, add_log_level, TimeStamper
    and a redactor): every processor is a call on every line, and the access line is written
    for every request. The seconds are formatted once per second.
    """

    __slots__ = ("_prefix", "_second")

    def __init__(self) -> None:
        self._second = -1
        self._prefix = ""

    def __call__(
        self, _logger: Any, method: str, event: MutableMapping[str, Any]
    ) -> MutableMapping[str, Any]:
        current = request_id.get()
        if current is not None:
            event.setdefault("request_id", current)
        event["level"] = _LEVELS.get(method, method)
        now = time.time()
        second = int(now)
        if second != self._second:
            self._second = second
            self._prefix = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(second))
        event["timestamp"] = f"{self._prefix}.{int((now - second) * 1e6):06d}Z"
        if not _SECRET_KEYS.isdisjoint(event):
            # Belt and braces: a key that names a secret never reaches a line with its value.
            for key in _SECRET_KEYS.intersection(event):
                event[key] = "***"
        if event.get("event") != _ACCESS_EVENT:
            # Values that look like a token are masked wherever they come from. The access
            # line is skipped: it is written for every request and holds only our own values.
            for key, value in event.items():
                if type(value) is str and _TOKEN_LIKE.search(value):
                    event[key] = redact(value)
        return event


def _render_json(_logger: Any, _method: str, event: MutableMapping[str, Any]) -> bytes:
    """msgspec encodes a line several times faster than the json module, straight to bytes."""
    return _encoder.encode(event)


def configure_logging(
    level: str = "info", *, json: bool | None = None, cache_loggers: bool = False
) -> None:
    """`cache_loggers` binds each logger once (faster); tests leave it off to reconfigure."""
    json = (not sys.stderr.isatty()) if json is None else json
    renderer: Any
    logger_factory: Any
    if json:
        renderer = _render_json
        # sys.stderr is looked up per logger, so a replaced stream (pytest's capture) is honoured.
        logger_factory = lambda *_: structlog.BytesLogger(sys.stderr.buffer)  # noqa: E731
    else:
        renderer = structlog.dev.ConsoleRenderer(colors=sys.stderr.isatty())
        logger_factory = lambda *_: structlog.PrintLogger(sys.stderr)  # noqa: E731
    structlog.configure(
        processors=[_Stamp(), renderer],
        wrapper_class=structlog.make_filtering_bound_logger(
            logging.getLevelNamesMapping()[level.upper()]
        ),
        logger_factory=logger_factory,
        cache_logger_on_first_use=cache_loggers,
    )
    # Our retry policy logs each retry it schedules (upstream.retry_scheduled, with the verb,
    # attempt, wait and reason); stamina's own line names only "<context block>".
    stamina.instrumentation.set_on_retry_hooks(())
    # Hypercorn's own access log would duplicate ours; keep its errors.
    logging.basicConfig(level=logging.WARNING, stream=sys.stderr, format="%(message)s")


def library_logger(name: str) -> Any:
    """A logger for code the Python API runs, which must not impose logging on its host.

    Once structlog is configured (by `configure_logging`, or by a host that uses structlog),
    lines go through that configuration. Until then they go to the stdlib logger `name` as
    logfmt text, so a host that configures nothing sees at most warnings on stderr (the stdlib's
    last resort), and never structlog's default: every level, printed to stdout.
    """
    return _LibraryLogger(name)


def _mask(_logger: Any, _method: str, event: MutableMapping[str, Any]) -> MutableMapping[str, Any]:
    for key, value in event.items():
        if key in _SECRET_KEYS:
            event[key] = "***"
        elif isinstance(value, str):
            event[key] = redact(value)
    return event


class _LibraryLogger:
    """structlog's configured logger when there is a configuration, else a stdlib-backed one."""

    __slots__ = ("_configured", "_stdlib")

    def __init__(self, name: str) -> None:
        self._configured = structlog.get_logger(name)
        self._stdlib = structlog.wrap_logger(
            logging.getLogger(name),
            processors=[
                structlog.stdlib.filter_by_level,
                _mask,
                structlog.processors.LogfmtRenderer(key_order=["event"]),
            ],
            wrapper_class=structlog.stdlib.BoundLogger,
        )

    def __getattr__(self, method: str) -> Any:
        target = self._configured if structlog.is_configured() else self._stdlib
        return getattr(target, method)
