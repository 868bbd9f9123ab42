"""What both clients are built from: their options, and the API key as an `httpx.Auth`."""

from __future__ import annotations

from collections.abc import Generator
from typing import Any

import httpx
import msgspec


class ApiKeyAuth(httpx.Auth):
    """`Authorization: Bearer <key>` on every request (the service's token mode)."""

    def __init__(self, key: str) -> None:
        self._header = f"Bearer {key}"

    def auth_flow(self, request: httpx.Request) -> Generator[httpx.Request, httpx.Response, None]:
        request.headers["Authorization"] = self._header
        yield request

    def __repr__(self) -> str:
        return "ApiKeyAuth(***)"


class ClientOptions(msgspec.Struct, frozen=True, kw_only=True):
    timeout: float
    stream_timeout: float
    retries: int
    retry_delay: float
    reconnect_for: float

    def httpx_options(self, base_url: str, api_key: str | None) -> dict[str, Any]:
        """The keyword arguments of `httpx.Client` and `httpx.AsyncClient` alike."""
        return {
            "base_url": base_url.rstrip("/"),
            "auth": ApiKeyAuth(api_key) if api_key else None,
            "timeout": self.timeout,
        }

    def stream_timeouts(self) -> httpx.Timeout:
        """A watch reads for as long as the run lasts: only a silence this long ends it."""
        return httpx.Timeout(self.timeout, read=self.stream_timeout)
