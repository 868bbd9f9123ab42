"""SCIM `Me`: the principal behind the caller's token, a user or an OAuth service principal."""

from __future__ import annotations

import hashlib
from typing import Literal

import msgspec

SCIM_ME_PATH = "/api/2.0/preview/scim/v2/Me"
SCIM_ME = "preview/scim/v2/Me"  # its name in stats and fault rules
USER_SCHEMAS = (
    "urn:ietf:params:scim:schemas:core:2.0:User",
    "urn:ietf:params:scim:schemas:extension:workspace:2.0:User",
)


class Principal(msgspec.Struct, frozen=True, kw_only=True):
    """Who a token belongs to; a service principal's `user_name` is its application id."""

    kind: Literal["user", "service_principal"]
    user_name: str
    display_name: str | None = None

    @property
    def id(self) -> str:
        """A stable 16-digit id derived from the name, like a workspace's SCIM ids."""
        digest = hashlib.sha256(f"{self.kind}:{self.user_name}".encode()).hexdigest()
        return str(10**15 + int(digest[:15], 16) % (9 * 10**15))


class Email(msgspec.Struct, frozen=True):
    value: str
    type: str = "work"
    primary: bool = True


class MeResponse(msgspec.Struct, frozen=True, kw_only=True):
    """GET /api/2.0/preview/scim/v2/Me, in the workspace's field order."""

    emails: tuple[Email, ...]
    displayName: str  # noqa: N815 - SCIM's wire names
    schemas: tuple[str, ...]
    active: bool
    id: str
    userName: str  # noqa: N815


def me(principal: Principal) -> MeResponse:
    emails = (Email(principal.user_name),) if principal.kind == "user" else ()
    return MeResponse(
        emails=emails,
        displayName=principal.display_name or principal.user_name,
        schemas=USER_SCHEMAS,
        active=True,
        id=principal.id,
        userName=principal.user_name,
    )


def derived_user(token: str) -> Principal:
    """The user an otherwise unknown, accepted token belongs to: the same one every time."""
    return Principal(
        kind="user", user_name=f"user-{hashlib.sha256(token.encode()).hexdigest()[:12]}@example.com"
    )
