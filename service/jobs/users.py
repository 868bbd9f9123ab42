"""Who a forwarded user token belongs to: SCIM `Me`, asked once per token and remembered.

Why not a hash of the token: a user's key must outlive their token. Keyed by the token, the
same user after a refresh is a stranger (a second run for the same Idempotency-Key, a cold
cache). The token itself is never a key here: only an HMAC of it under a per-process secret.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import secrets

import msgspec

from service.basics.clock import Clock
from service.basics.errors import UpstreamAuthFailed, UserTokenRefused
from service.cache.read_cache import CacheKey, ReadCache
from service.upstream.auth import BearerAuth, Identity
from service.upstream.client import JobsClient

# A token's owner is remembered until the token's JWT `exp`, and never longer than this (a PAT
# has no readable expiry). Remembering is not trusting: every call still carries the token.
IDENTITY_TTL_S = 3600.0


class _Claims(msgspec.Struct):
    exp: float | None = None


_claims_decoder = msgspec.json.Decoder(_Claims)


class UserDirectory:
    """Token → `Identity(key="user:<SCIM id>")`, one `Me` call per token at a time."""

    def __init__(self, client: JobsClient, clock: Clock, *, max_entries: int) -> None:
        self._client = client
        self._clock = clock
        self._known = ReadCache(clock, max_entries=max_entries)
        self._pepper = secrets.token_bytes(32)

    async def identify(self, token: str) -> Identity:
        """The token's owner; UserTokenRefused if Databricks refuses the token itself."""
        auth = BearerAuth(token)
        digest = hmac.new(self._pepper, token.encode(), hashlib.sha256).hexdigest()
        lifetime = token_lifetime(token, self._clock.wall_ms() / 1000)
        principal_id = await self._known.get_or_load(
            CacheKey("token", "", "me", digest), lambda: self._look_up(auth), lambda _: lifetime
        )
        return Identity(key=f"user:{principal_id}", auth=auth)

    async def _look_up(self, auth: BearerAuth) -> str:
        try:
            principal = await self._client.me(Identity(key="user:unidentified", auth=auth))
        except UpstreamAuthFailed as exc:
            if token_invalid(exc):
                raise UserTokenRefused(
                    "Databricks refused the forwarded user token; sign in again"
                ) from None
            raise  # the token is fine but may not ask who it is: our setup, a 502
        return principal.id


def token_invalid(exc: UpstreamAuthFailed) -> bool:
    """401, or the 403 "Invalid access token." (a numeric error_code), not PERMISSION_DENIED."""
    if exc.upstream_status == 401:
        return True
    detail = (exc.detail or "").lower()
    return exc.upstream_status == 403 and (
        exc.upstream_code == "403" or "invalid access token" in detail
    )


def token_lifetime(token: str, now_s: float) -> float:
    """Seconds until a JWT's `exp` (unverified: it only bounds how long we remember), capped
    at IDENTITY_TTL_S; IDENTITY_TTL_S for a token that is not a JWT."""
    parts = token.split(".")
    if len(parts) != 3:
        return IDENTITY_TTL_S
    try:
        payload = base64.urlsafe_b64decode(parts[1] + "=" * (-len(parts[1]) % 4))
        exp = _claims_decoder.decode(payload).exp
    except (binascii.Error, ValueError, msgspec.DecodeError):
        return IDENTITY_TTL_S
    if exp is None:
        return IDENTITY_TTL_S
    return min(IDENTITY_TTL_S, exp - now_s)
