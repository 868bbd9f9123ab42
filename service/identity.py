"""Who a call acts as: the app's service principal, or the user whose token the proxy forwarded."""

from __future__ import annotations

from collections.abc import Mapping

import httpx
import msgspec

from service.errors import MissingUserToken

USER_TOKEN_HEADER = "x-forwarded-access-token"  # noqa: S105 - a header name


class Identity(msgspec.Struct, frozen=True):
    """`key` names the identity in cache keys, idempotency scopes and logs: a stable id
    (`sp`, or `user:<SCIM id>`), never a token or anything derived from one."""

    key: str
    auth: httpx.Auth


def service_principal(auth: httpx.Auth) -> Identity:
    return Identity(key="sp", auth=auth)


def forwarded_token(headers: Mapping[str, str]) -> str:
    """The user's token from the proxy; fails closed when the proxy sent none."""
    token = headers.get(USER_TOKEN_HEADER, "").strip()
    if not token:
        raise MissingUserToken(
            "This job acts on behalf of the user: X-Forwarded-Access-Token is required"
        )
    return token
