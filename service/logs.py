"""Logging, configured in one place: JSON lines outside a terminal, console lines in one."""

from __future__ import annotations

import logging
import sys
import time
from collections.abc import MutableMapping
from typing import Any

import msgspec
import structlog

_encoder = msgspec.json.Encoder()
_SECRET_KEYS = {"token", "authorization", "client_secret", "access_token", "password", "secret"}


def _redact(_logger: Any, _name: str, event: MutableMapping[str, Any]) -> MutableMapping[str, Any]:
    """Belt and braces: a key that names a secret never reaches a log line with its value."""
    for key in event.keys() & _SECRET_KEYS:
        event[key] = "***"
    return event


class _UtcTimestamp:
    """ISO 8601 UTC timestamps with microseconds, formatting the seconds once per second.

    Why not structlog's TimeStamper: its datetime formatting was a third of an access line.
    """

    __slots__ = ("_prefix", "_second")

    def __init__(self) -> None:
        self._second = -1
        self._prefix = ""

    def __call__(
        self, _logger: Any, _name: str, event: MutableMapping[str, Any]
    ) -> MutableMapping[str, Any]:
        now = time.time()
        second = int(now)
        if second != self._second:
            self._second = second
            self._prefix = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(second))
        event["timestamp"] = f"{self._prefix}.{int((now - second) * 1e6):06d}Z"
        return event


def configure_logging(
    level: str = "info", *, json: bool | None = None, cache_loggers: bool = False
) -> None:
    """`cache_loggers` binds each logger once (faster); tests leave it off to reconfigure."""
    json = (not sys.stderr.isatty()) if json is None else json
    renderer: Any
    logger_factory: Any
    if json:
        # msgspec encodes a line several times faster than the json module, straight to bytes.
        renderer = structlog.processors.JSONRenderer(serializer=lambda e, **_: _encoder.encode(e))
        # sys.stderr is looked up per logger, so a replaced stream (pytest's capture) is honoured.
        logger_factory = lambda *_: structlog.BytesLogger(sys.stderr.buffer)  # noqa: E731
    else:
        renderer = structlog.dev.ConsoleRenderer(colors=sys.stderr.isatty())
        logger_factory = lambda *_: structlog.PrintLogger(sys.stderr)  # noqa: E731
    structlog.configure(
        processors=[
            structlog.contextvars.merge_contextvars,
            structlog.processors.add_log_level,
            _UtcTimestamp(),
            _redact,
            renderer,
        ],
        wrapper_class=structlog.make_filtering_bound_logger(
            logging.getLevelNamesMapping()[level.upper()]
        ),
        logger_factory=logger_factory,
        cache_logger_on_first_use=cache_loggers,
    )
    # Hypercorn's own access log would duplicate ours; keep its errors.
    logging.basicConfig(level=logging.WARNING, stream=sys.stderr, format="%(message)s")
