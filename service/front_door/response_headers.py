"""Headers a layer inside asks for on this request's answer: a list in the request's scope.

The access log's own send wrapper appends them when the response starts (service.web.access_log),
so a limit's RateLimit-* headers (service.front_door.rate_limits) cost no middleware of their own.
"""

from __future__ import annotations

from starlette.types import Scope

# Headers a layer inside wants on this request's response: one list per request in its scope.
RESPONSE_HEADERS = "jobs_sidecar.response_headers"


def add_response_headers(scope: Scope, headers: list[tuple[bytes, bytes]]) -> None:
    """Have the response to this request carry `headers` too (set before it starts)."""
    scope.setdefault(RESPONSE_HEADERS, []).extend(headers)
