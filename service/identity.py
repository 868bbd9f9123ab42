"""The user's token, as the proxy forwards it for a job that runs as the user."""

from __future__ import annotations

from collections.abc import Mapping

from service.errors import MissingUserToken

USER_TOKEN_HEADER = "x-forwarded-access-token"  # noqa: S105 - a header name


def forwarded_token(headers: Mapping[str, str]) -> str:
    """The user's token from the proxy; fails closed when the proxy sent none."""
    token = headers.get(USER_TOKEN_HEADER, "").strip()
    if not token:
        raise MissingUserToken(
            "This job acts on behalf of the user: X-Forwarded-Access-Token is required"
        )
    return token
