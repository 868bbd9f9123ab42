"""Credentials as `httpx.Auth` flows (a static bearer token, or OAuth M2M refreshed under a lock),
and the `Identity` a call acts as."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncGenerator, Generator

import httpx
import msgspec

from service.basics.clock import Clock
from service.upstream.tokens import TokenEndpoint

# Refresh this long before the token's expiry: Azure rejects tokens with 30 s or less left,
# and the official SDK treats a token as expired 40 s early.
REFRESH_MARGIN_S = 40.0


class Identity(msgspec.Struct, frozen=True):
    """Who a call acts as: the app's service principal, or the user whose token was forwarded.

    `key` names the identity in cache keys, idempotency scopes and logs: a stable id
    (`sp`, or `user:<SCIM id>`), never a token or anything derived from one."""

    key: str
    auth: httpx.Auth


def service_principal(auth: httpx.Auth) -> Identity:
    return Identity(key="sp", auth=auth)


class BearerAuth(httpx.Auth):
    """A personal access token, or a user's forwarded OAuth token."""

    def __init__(self, token: str) -> None:
        self._header = f"Bearer {token}"

    def __repr__(self) -> str:
        return "BearerAuth('***')"

    def auth_flow(self, request: httpx.Request) -> Generator[httpx.Request, httpx.Response, None]:
        request.headers["Authorization"] = self._header
        yield request


class OAuthM2MAuth(httpx.Auth):
    """Client-credentials tokens from the token endpoint, shared by every concurrent caller.

    One refresh at a time (under a lock), ahead of expiry; a request whose token is refused as
    invalid gets one fresh token and one retry, so a token revoked early never surfaces to a
    client. The token is fetched by a request of its own, before the flow yields: a failure
    is then our exception, raised inside the attempt, and the attempt's tier retries it.

    Why the margin differs from the SDK's fixed 40 s: a token that lives less than twice the
    margin is refreshed halfway through its life (the SDK's async refresh also goes stale at
    half the TTL), instead of being thrown away on every request.
    """

    def __init__(self, endpoint: TokenEndpoint, *, clock: Clock) -> None:
        self._endpoint = endpoint
        self._clock = clock
        self._lock = asyncio.Lock()
        self._token: str | None = None
        self._refresh_at = 0.0

    def __repr__(self) -> str:
        return "OAuthM2MAuth(client_secret='***')"

    def sync_auth_flow(
        self, request: httpx.Request
    ) -> Generator[httpx.Request, httpx.Response, None]:
        raise RuntimeError("OAuthM2MAuth is async only")

    async def async_auth_flow(
        self, request: httpx.Request
    ) -> AsyncGenerator[httpx.Request, httpx.Response]:
        token = self._valid_token() or await self._refresh(stale=None)
        request.headers["Authorization"] = f"Bearer {token}"
        response = yield request
        if _token_refused(response):
            await response.aread()  # its connection goes back to the pool before we wait
            token = await self._refresh(stale=token)
            request.headers["Authorization"] = f"Bearer {token}"
            yield request

    def _valid_token(self) -> str | None:
        if self._token is not None and self._clock.monotonic() < self._refresh_at:
            return self._token
        return None

    async def _refresh(self, *, stale: str | None) -> str:
        """A new token, unless another caller got one while we waited for the lock.

        `stale` is the token just refused (None: there was no valid one).
        """
        async with self._lock:
            current = self._valid_token() if stale is None else self._token
            if current is not None and current != stale:
                return current
            asked_at = self._clock.monotonic()
            reply = await self._endpoint.fetch()
            margin = min(REFRESH_MARGIN_S, reply.expires_in / 2)
            self._token = reply.access_token
            self._refresh_at = asked_at + reply.expires_in - margin
            return reply.access_token


def _token_refused(response: httpx.Response) -> bool:
    """401, or the 403 Databricks sends for an invalid token (not a permission denial)."""
    if response.status_code == 401:
        return True
    reason = response.headers.get("x-databricks-reason-phrase", "")
    return response.status_code == 403 and "invalid access token" in reason.lower()
