"""Logging, configured in one place: JSON lines outside a terminal, console lines in one."""

from __future__ import annotations

import logging
import sys
from collections.abc import MutableMapping
from typing import Any

import msgspec
import structlog

_SECRET_KEYS = {"token", "authorization", "client_secret", "access_token", "password", "secret"}


def _redact(_logger: Any, _name: str, event: MutableMapping[str, Any]) -> MutableMapping[str, Any]:
    """Belt and braces: a key that names a secret never reaches a log line with its value."""
    for key in event.keys() & _SECRET_KEYS:
        event[key] = "***"
    return event


def _encode(event: Any, **_: Any) -> str:
    return msgspec.json.encode(event).decode()


def configure_logging(
    level: str = "info", *, json: bool | None = None, cache_loggers: bool = False
) -> None:
    """`cache_loggers` binds each logger once (faster); tests leave it off to reconfigure."""
    json = (not sys.stderr.isatty()) if json is None else json
    renderer: Any = (
        # msgspec encodes a log line several times faster than the json module.
        structlog.processors.JSONRenderer(serializer=_encode)
        if json
        else structlog.dev.ConsoleRenderer(colors=sys.stderr.isatty())
    )
    structlog.configure(
        processors=[
            structlog.contextvars.merge_contextvars,
            structlog.processors.add_log_level,
            structlog.processors.TimeStamper(fmt="iso", utc=True),
            _redact,
            renderer,
        ],
        wrapper_class=structlog.make_filtering_bound_logger(
            logging.getLevelNamesMapping()[level.upper()]
        ),
        # sys.stderr is looked up per logger, so a replaced stream (pytest's capture) is honoured.
        logger_factory=lambda *_: structlog.PrintLogger(sys.stderr),
        cache_logger_on_first_use=cache_loggers,
    )
    # Hypercorn's own access log would duplicate ours; keep its errors.
    logging.basicConfig(level=logging.WARNING, stream=sys.stderr, format="%(message)s")
