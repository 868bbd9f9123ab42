"""Who is calling: the caller a request acts for, as the access mode found it.

The caller is not the identity that acts on Databricks (`service.upstream.auth.Identity`: the
service principal, or the user for `run_as = "user"` jobs). It is who asked: the user the
Databricks Apps proxy names, the name of an API key, or `anonymous` in open mode. Access rules,
rate limits, stream caps, idempotency keys and the audit log are all per caller, and a caller
has one name for all of them: `named` spells it once, where the caller is found.
"""

from __future__ import annotations

import msgspec
from starlette.requests import Request
from starlette.types import Scope

SCOPE_KEY = "jobs_sidecar.caller"  # an ASGI scope extension set by `Authenticate`


class Caller(msgspec.Struct, frozen=True):
    """The caller's name: an email (apps), an API key's name (token), or `anonymous` (open).

    Build it with `named`, never from a raw name: two spellings must not be two callers."""

    name: str


def named(raw: str) -> Caller:
    """The caller `raw` names, spelt one way: an e-mail address (anything with an `@`) case-folded.

    Why: the access rules compare addresses whatever their case (service.permissions), so
    `Alice@x` and `alice@x` are one person to them; without one spelling they were three callers
    to the rate limits, the idempotency scope and the stream quota, each with a limit of its own.
    """
    return Caller(raw.casefold() if "@" in raw else raw)


ANONYMOUS = Caller("anonymous")
# The Python API's caller (service.jobs): the program itself, which holds the credentials, so
# access rules do not apply to it; its name scopes its idempotency keys. The space keeps it
# apart from every HTTP caller (proxy-named users and API key names have none).
PROGRAM = Caller("python program")


def caller_of(source: Request | Scope) -> Caller:
    """The request's caller; every route but the probes runs behind `Authenticate`."""
    scope = source.scope if isinstance(source, Request) else source
    caller: Caller | None = scope.get(SCOPE_KEY)
    if caller is None:  # a route outside the middleware: a bug, not a caller
        raise LookupError("no caller: the request did not pass through Authenticate")
    return caller
