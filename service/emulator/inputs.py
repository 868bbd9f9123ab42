"""Request inputs as the Jobs API reads them: bearer tokens, JSON bodies, int64 ids, booleans,
page tokens."""

from __future__ import annotations

import base64
import binascii
from typing import TypeVar

import msgspec
from starlette.requests import Request
from starlette.types import Scope

from service.emulator.errors import InvalidParameter, MalformedRequest

T = TypeVar("T")
_INT64_MAX = 2**63 - 1


def bearer_token(scope: Scope) -> str | None:
    """The token of an `Authorization: Bearer` header, if the request has one."""
    for name, value in scope["headers"]:
        if name == b"authorization":
            kind, _, token = value.decode("latin-1").partition(" ")
            return token.strip() if kind.lower() == "bearer" and token.strip() else None
    return None


def origin(request: Request) -> str:
    """scheme://host the client used to reach us, from its Host header (for links and OAuth)."""
    host = request.headers.get("host") or request.url.netloc
    return f"{request.url.scheme}://{host}"


def decode_body(body: bytes, into: type[T]) -> T:
    """A JSON body as `into`; an empty body is an empty object, as the API treats it."""
    try:
        return msgspec.json.decode(body or b"{}", type=into)
    except msgspec.ValidationError as exc:
        raise MalformedRequest(f"Could not parse request object: {exc}") from None
    except (msgspec.DecodeError, RecursionError):  # RecursionError: nested ~1,000 deep
        raise MalformedRequest(
            "Invalid JSON given in the body of the request - expected a map"
        ) from None


def query_int(request: Request, name: str) -> int | None:
    raw = request.query_params.get(name)
    if raw is None or raw == "":
        return None
    try:
        value = int(raw)
    except ValueError:
        raise InvalidParameter(f"Invalid value for {name}: {raw!r} is not an integer.") from None
    if not -_INT64_MAX - 1 <= value <= _INT64_MAX:
        raise InvalidParameter(f"Invalid value for {name}: {raw} does not fit in 64 bits.")
    return value


def required_int(request: Request, name: str) -> int:
    value = query_int(request, name)
    if value is None:
        raise InvalidParameter(f"Missing required field: {name}")
    return value


def query_bool(request: Request, name: str) -> bool:
    """The SDK sends lower-case `true`/`false`; anything else is a client error."""
    raw = request.query_params.get(name)
    if raw is None or raw == "":
        return False
    if raw.lower() in ("true", "false"):
        return raw.lower() == "true"
    raise InvalidParameter(f"Invalid value for {name}: {raw!r} is not a boolean.")


def page_limit(request: Request, *, default: int, maximum: int) -> int:
    """`limit`: absent means `default`, 0 means `maximum`, more than `maximum` is an error."""
    limit = query_int(request, "limit")
    if limit is None:
        return default
    if limit < 0:
        raise InvalidParameter(f"Invalid limit {limit} - it has to be non-negative.")
    if limit > maximum:
        raise InvalidParameter(f"Invalid limit {limit} - it has to be no more than {maximum}.")
    return limit or maximum


def page_offset(request: Request) -> int:
    """Where a page starts: from the opaque `page_token`, else the deprecated `offset`."""
    token = request.query_params.get("page_token")
    if token:
        return decode_token(token)
    offset = query_int(request, "offset")
    if offset is not None and offset < 0:
        raise InvalidParameter(f"Invalid offset {offset} - it has to be non-negative.")
    return offset or 0


def encode_token(offset: int) -> str:
    return base64.urlsafe_b64encode(f"offset:{offset}".encode()).decode().rstrip("=")


def decode_token(token: str) -> int:
    try:
        text = base64.urlsafe_b64decode(token + "=" * (-len(token) % 4)).decode()
        kind, _, number = text.partition(":")
        offset = int(number)
    except (binascii.Error, UnicodeDecodeError, ValueError):
        raise InvalidParameter(f"Invalid page token: {token}") from None
    if kind != "offset" or offset < 0:
        raise InvalidParameter(f"Invalid page token: {token}")
    return offset


def page_tokens(offset: int, limit: int, total: int) -> tuple[str | None, str | None]:
    """(next, prev) tokens for the page [offset, offset+limit); None where there is none."""
    following = encode_token(offset + limit) if offset + limit < total else None
    preceding = encode_token(max(0, offset - limit)) if offset > 0 else None
    return following, preceding
