"""The OAuth token endpoint: one client-credentials request, its failures named in our tree.

A token request is an ordinary request of the service's HTTP client (its pool, its transport),
made outside any other request's auth flow, so its body is read like any other and its failures
are our exceptions: the tier running the call that needed the token retries what is retryable.

    token endpoint answers          raised                 retried by the tier
    200 with a readable token       (the token)            -
    400, 401, 403, other 4xx        UpstreamAuthFailed     no: the credentials are wrong
    429                             UpstreamThrottled      yes, after Retry-After
    5xx, 3xx, unreadable 200        UpstreamUnavailable    yes
    no answer in time               UpstreamTimeout        yes
    connection failed               UpstreamUnavailable    yes
"""

from __future__ import annotations

import asyncio
from typing import Any

import httpx
import msgspec

from service.basics.clock import Clock
from service.basics.errors import (
    UpstreamAuthFailed,
    UpstreamError,
    UpstreamThrottled,
    UpstreamTimeout,
    UpstreamUnavailable,
)
from service.basics.logs import library_logger
from service.upstream.reply import parse_retry_after
from service.upstream.wire import TokenReply

TOKEN_PATH = "/oidc/v1/token"  # noqa: S105 - a path, not a secret
# A token request never waits longer than this (nor than the service's `timeout_ms`): a third
# of the read tier's budget, so a token endpoint that hangs once leaves time to ask again.
TOKEN_TIMEOUT_S = 10.0
_log = library_logger("service.upstream")
_token_decoder = msgspec.json.Decoder(TokenReply)


class _OAuthError(msgspec.Struct):
    error: str | None = None


_oauth_error_decoder = msgspec.json.Decoder(_OAuthError)


class TokenEndpoint:
    """`{host}/oidc/v1/token` for one service principal, reached through the service's client."""

    def __init__(
        self,
        http: httpx.AsyncClient,
        host: str,
        client_id: str,
        client_secret: str,
        *,
        clock: Clock,
        timeout_s: float = TOKEN_TIMEOUT_S,
    ) -> None:
        self._http = http
        self._clock = clock
        self._timeout = timeout_s
        self._url = f"{host}{TOKEN_PATH}"
        self._basic = httpx.BasicAuth(client_id, client_secret)

    def __repr__(self) -> str:
        return "TokenEndpoint(client_secret='***')"

    async def fetch(self) -> TokenReply:
        """A fresh access token; raises the error the table above names."""
        try:
            # On the loop clock as well as httpx's: a transport that never answers (or answers
            # a byte a minute) is cut here too.
            async with asyncio.timeout(self._timeout):
                response = await self._http.post(
                    self._url,
                    data={"grant_type": "client_credentials", "scope": "all-apis"},
                    auth=self._basic,
                    timeout=self._timeout,
                )
        except (httpx.TimeoutException, TimeoutError) as exc:
            _log.warning("upstream.token_timeout", error=type(exc).__name__)
            raise UpstreamTimeout(
                "Databricks did not answer in time", detail="token endpoint"
            ) from exc
        except httpx.TransportError as exc:
            _log.warning("upstream.token_unreachable", error=type(exc).__name__)
            raise UpstreamUnavailable("Databricks is unreachable", detail="token endpoint") from exc
        if response.status_code != 200:
            error = token_error(
                response.status_code,
                response.content,
                response.headers,
                wall_s=self._clock.wall_ms() / 1000,
            )
            _log.warning(
                "upstream.token_failed",
                status=response.status_code,
                upstream_code=error.upstream_code,
                retryable=not isinstance(error, UpstreamAuthFailed),
            )
            raise error
        try:
            return _token_decoder.decode(response.content)
        except msgspec.DecodeError as exc:  # ValidationError is a DecodeError
            _log.warning("upstream.token_unreadable")
            raise UpstreamUnavailable(
                "Databricks sent an unreadable token response", upstream_status=200
            ) from exc


def token_error(
    status: int, body: bytes, headers: httpx.Headers, *, wall_s: float
) -> UpstreamError:
    """The exception for a token endpoint's non-200 answer; the OAuth `error` is for the log."""
    try:
        code = _oauth_error_decoder.decode(body).error if body else None
    except msgspec.DecodeError:
        code = None
    kw: dict[str, Any] = {"upstream_status": status, "upstream_code": code, "detail": "token"}
    if status == 429:
        retry_after = parse_retry_after(headers.get("retry-after"), wall_s=wall_s)
        return UpstreamThrottled(
            "Databricks is throttling requests; retry later",
            retry_after=1.0 if retry_after is None else retry_after,
            **kw,
        )
    if status >= 500 or status < 400:
        return UpstreamUnavailable("Databricks is unavailable", **kw)
    return UpstreamAuthFailed("Databricks refused the service's credentials", **kw)
