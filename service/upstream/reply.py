"""Reading a reply from Databricks: its declared type checked, its body streamed under a cap,
its Retry-After read against the clock we are given."""

from __future__ import annotations

import email.utils
from collections.abc import Mapping
from datetime import UTC

import httpx

from service.basics.errors import UpstreamTooLarge
from service.basics.logs import library_logger

# A 2xx of these types is a login page or a proxy's, whatever its body: never the JSON promised.
_NOT_JSON = frozenset({"text/html", "application/xhtml+xml", "text/xml", "application/xml"})
_log = library_logger("service.upstream")
MAX_RETRY_AFTER_S = 3600.0


def type_problem(headers: Mapping[str, str]) -> str | None:
    """Why a 2xx cannot be the JSON it claims, from its content type; None when it may be."""
    media = headers.get("content-type", "").partition(";")[0].strip().lower()
    return f"content-type {media}" if media in _NOT_JSON else None


async def read_capped(response: httpx.Response, limit: int, *, verb: str) -> bytes:
    """The body, at most `limit` bytes (decoded); past it UpstreamTooLarge, the rest unread."""
    declared = response.headers.get("content-length", "")
    if declared.isascii() and declared.isdigit() and int(declared) > limit:
        raise _too_large(response, verb, limit, int(declared))
    chunks: list[bytes] = []
    size = 0
    async for chunk in response.aiter_bytes():
        size += len(chunk)
        if size > limit:
            raise _too_large(response, verb, limit, size)
        chunks.append(chunk)
    return b"".join(chunks)


async def read_head(response: httpx.Response, limit: int) -> bytes:
    """At most `limit` bytes of the body (an error reply's message); the rest is not read."""
    chunks: list[bytes] = []
    size = 0
    async for chunk in response.aiter_bytes():
        chunks.append(chunk[: limit - size])
        size += len(chunks[-1])
        if size >= limit:
            break
    return b"".join(chunks)


def _too_large(response: httpx.Response, verb: str, limit: int, seen: int) -> UpstreamTooLarge:
    status = response.status_code
    _log.warning(
        "upstream.reply_too_large", verb=verb, status=status, limit_bytes=limit, seen_bytes=seen
    )
    return UpstreamTooLarge(
        "Databricks sent a reply larger than the service accepts",
        upstream_status=status,
        detail=f"over {limit} bytes",
    )


def parse_retry_after(value: str | None, *, wall_s: float) -> float | None:
    """Seconds from a Retry-After header: delta-seconds, or an HTTP date less `wall_s` (the
    injected clock's wall time, in seconds); None if absent or junk.

    At most MAX_RETRY_AFTER_S: a wait beyond it is a broken header, not advice to follow.
    """
    if not value:
        return None
    value = value.strip()
    if value.isascii() and value.isdigit():
        return min(float(value), MAX_RETRY_AFTER_S)  # 400 digits make float('inf')
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return min(max(0.0, when.timestamp() - wall_s), MAX_RETRY_AFTER_S)
