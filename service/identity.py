"""Who a call acts as: the app's service principal, or the user whose token the proxy forwarded."""

from __future__ import annotations

import hashlib
from collections.abc import Mapping

import httpx
import msgspec

from service.errors import MissingUserToken
from service.upstream.auth import BearerAuth

USER_TOKEN_HEADER = "x-forwarded-access-token"  # noqa: S105 - a header name


class Identity(msgspec.Struct, frozen=True):
    """`key` names the identity in cache keys and logs; it never contains a token."""

    key: str
    auth: httpx.Auth


def service_principal(auth: httpx.Auth) -> Identity:
    return Identity(key="sp", auth=auth)


def user_from_headers(headers: Mapping[str, str]) -> Identity:
    """The forwarded user's identity; fails closed when the proxy sent no token."""
    token = headers.get(USER_TOKEN_HEADER, "").strip()
    if not token:
        raise MissingUserToken(
            "This job acts on behalf of the user: X-Forwarded-Access-Token is required"
        )
    digest = hashlib.sha256(token.encode()).hexdigest()[:16]
    return Identity(key=f"user:{digest}", auth=BearerAuth(token))
