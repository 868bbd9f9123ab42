"""Credentials as `httpx.Auth` flows: a static bearer token, or OAuth M2M refreshed under a lock."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncGenerator, Generator

import httpx
import msgspec

from service.clock import Clock
from service.errors import UpstreamAuthFailed, UpstreamUnavailable
from service.upstream.wire import TokenReply

# Refresh this long before the token's expiry: Azure rejects tokens with 30 s or less left,
# and the official SDK treats a token as expired 40 s early.
REFRESH_MARGIN_S = 40.0
TOKEN_TIMEOUT_S = 30.0
_token_decoder = msgspec.json.Decoder(TokenReply)


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
    """Client-credentials tokens from `{host}/oidc/v1/token`, shared by every concurrent caller.

    One refresh at a time (under a lock), REFRESH_MARGIN_S ahead of expiry; a request whose
    token is refused as invalid gets one fresh token and one retry, so a token revoked early
    never surfaces to a client.
    """

    requires_response_body = True

    def __init__(self, host: str, client_id: str, client_secret: str, *, clock: Clock) -> None:
        self._token_url = f"{host}/oidc/v1/token"
        self._basic = httpx.BasicAuth(client_id, client_secret)
        self._clock = clock
        self._lock = asyncio.Lock()
        self._token: str | None = None
        self._expires_at = 0.0
        self.refreshes = 0

    def __repr__(self) -> str:
        return "OAuthM2MAuth(client_secret='***')"

    def sync_auth_flow(
        self, request: httpx.Request
    ) -> Generator[httpx.Request, httpx.Response, None]:
        raise RuntimeError("OAuthM2MAuth is async only")

    async def async_auth_flow(
        self, request: httpx.Request
    ) -> AsyncGenerator[httpx.Request, httpx.Response]:
        token = self._valid_token()
        if token is None:
            async with self._lock:
                token = self._valid_token()
                if token is None:
                    response = yield self._token_request()
                    token = self._accept(response)
        request.headers["Authorization"] = f"Bearer {token}"
        response = yield request
        if _token_refused(response):
            async with self._lock:
                if self._token == token:
                    response = yield self._token_request()
                    self._accept(response)
                token = self._token or token
            request.headers["Authorization"] = f"Bearer {token}"
            yield request

    def _valid_token(self) -> str | None:
        if self._token is not None and self._clock.monotonic() < self._expires_at:
            return self._token
        return None

    def _token_request(self) -> httpx.Request:
        request = httpx.Request(
            "POST",
            self._token_url,
            data={"grant_type": "client_credentials", "scope": "all-apis"},
        )
        # A request made inside an auth flow carries no timeout of its own: without one, a
        # token endpoint that never answers would hold the lock, and every caller, forever.
        request.extensions["timeout"] = httpx.Timeout(TOKEN_TIMEOUT_S).as_dict()
        return next(self._basic.auth_flow(request))

    def _accept(self, response: httpx.Response) -> str:
        if response.status_code != 200:
            raise UpstreamAuthFailed(
                "Databricks refused the service's credentials",
                upstream_status=response.status_code,
                detail="the token endpoint refused the client credentials",
            )
        try:
            reply = _token_decoder.decode(response.content)
        except msgspec.DecodeError as exc:
            raise UpstreamUnavailable(
                "Databricks sent an unreadable token response", upstream_status=200
            ) from exc
        self._token = reply.access_token
        self._expires_at = self._clock.monotonic() + reply.expires_in - REFRESH_MARGIN_S
        self.refreshes += 1
        return reply.access_token


def _token_refused(response: httpx.Response) -> bool:
    """401, or the 403 Databricks sends for an invalid token (not a permission denial)."""
    if response.status_code == 401:
        return True
    reason = response.headers.get("x-databricks-reason-phrase", "")
    return response.status_code == 403 and "invalid access token" in reason.lower()
