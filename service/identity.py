"""The user's token, as the proxy forwards it for a job that runs as the user."""

from __future__ import annotations

from collections.abc import Mapping

from starlette.types import Scope

from service.errors import MissingUserToken

USER_TOKEN_HEADER = "x-forwarded-access-token"  # noqa: S105 - a header name
# An ASGI scope extension set by `service.authentication.Authenticate`: the token, in apps
# mode from a trusted proxy only (in token and open modes no one vouches for the header).
USER_TOKEN_SCOPE_KEY = "jobs_sidecar.user_token"  # noqa: S105 - a scope key
_MISSING = "This job acts on behalf of the user: X-Forwarded-Access-Token is required"


def forwarded_token(headers: Mapping[str, str]) -> str:
    """The user's token from the proxy; fails closed when the proxy sent none (Python API: the
    host application vouches for the request it passes)."""
    token = headers.get(USER_TOKEN_HEADER, "").strip()
    if not token:
        raise MissingUserToken(_MISSING)
    return token


def user_token(scope: Scope) -> str:
    """The user's token a trusted proxy forwarded with this request; fails closed without one
    (and in token and open modes, where the header is never believed)."""
    token: str | None = scope.get(USER_TOKEN_SCOPE_KEY)
    if not token:
        raise MissingUserToken(_MISSING + " from the Databricks Apps proxy (apps mode)")
    return token
