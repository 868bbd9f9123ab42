"""The RateLimit-* headers of a limit's window, on the answer to the request it counted.

A refusal (429) carries the window it broke, with `Retry-After`; a trigger's answer carries its
tightest window. A layer inside asks for headers by putting them in the request's scope
(`add_response_headers`); the access log's own send wrapper appends them when the response
starts (service.web.access_log), so they cost no middleware layer of their own.
"""

from __future__ import annotations

from typing import NamedTuple

from starlette.types import Scope

# Headers a layer inside wants on this request's response: one list per request in its scope.
RESPONSE_HEADERS = "jobs_sidecar.response_headers"


class Window(NamedTuple):
    """One limit as it stands for a caller after a request: for the RateLimit-* headers."""

    limit: int
    remaining: int
    reset_s: int


def show(scope: Scope, window: Window) -> None:
    """The response carries this window's RateLimit-* headers."""
    add_response_headers(scope, headers(window))


def headers(window: Window) -> list[tuple[bytes, bytes]]:
    return [
        (b"ratelimit-limit", str(window.limit).encode()),
        (b"ratelimit-remaining", str(window.remaining).encode()),
        (b"ratelimit-reset", str(window.reset_s).encode()),
    ]


def add_response_headers(scope: Scope, headers: list[tuple[bytes, bytes]]) -> None:
    """Have the response to this request carry `headers` too (set before it starts)."""
    scope.setdefault(RESPONSE_HEADERS, []).extend(headers)
