"""`[access] cors_origins` as a browser writes an origin: checked and normalised at start-up.

An origin is `scheme://host[:port]` (http or https, lower case, no default port), or `*` alone,
which allows every origin to read (service.front_door.cors) and none to write
(service.front_door.cross_site).
"""

from __future__ import annotations

from collections.abc import Iterable
from urllib.parse import urlsplit

ANY = "*"
_DEFAULT_PORTS = {"http": 80, "https": 443}


def checked_origins(origins: Iterable[str]) -> tuple[str, ...]:
    """Each origin as a browser writes it (`scheme://host[:port]`, lower case, no default
    port), or `*` alone; anything else is a ValueError naming it."""
    checked = tuple(_origin(origin) for origin in origins)
    if ANY in checked and len(checked) > 1:
        raise ValueError('cors_origins: "*" stands alone (it allows every origin, reads only)')
    return checked


def explicit(origins: Iterable[str]) -> tuple[str, ...]:
    """The origins whose pages may also write (trigger, cancel): all but `*`."""
    return tuple(origin for origin in origins if origin != ANY)


def _origin(raw: str) -> str:
    if raw.strip() == ANY:
        return ANY
    hint = f"cors_origins: {raw!r} is not an origin: write scheme://host[:port], or *"
    try:
        parts = urlsplit(raw.strip())
        port = parts.port
    except ValueError:
        raise ValueError(hint) from None
    if (
        parts.scheme not in _DEFAULT_PORTS
        or not parts.hostname
        or parts.username is not None
        or parts.password is not None
        or parts.path not in ("", "/")
        or parts.query
        or parts.fragment
    ):
        raise ValueError(hint)
    host = f"[{parts.hostname}]" if ":" in parts.hostname else parts.hostname
    shown_port = "" if port in (None, _DEFAULT_PORTS[parts.scheme]) else f":{port}"
    return f"{parts.scheme}://{host}{shown_port}"
