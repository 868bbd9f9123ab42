"""The Host names the service answers to, as settings: `allowed_hosts` checked, the platform's
names, and whether a Host header names one of them (service.front_door.hosts refuses the others).

Why, and which names: see service/front_door/hosts.py.
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Iterable, Mapping
from urllib.parse import urlsplit

from service.basics.echo import echo

APPS_DOMAIN = "*.databricksapps.com"
LOOPBACK = ("localhost", "127.0.0.0/8", "::1")
_NAME = re.compile(r"[a-z0-9_-]+(?:\.[a-z0-9_-]+)*")
# A Host header: a name or an address, `[v6]` bracketed, then an optional port.
_HOST = re.compile(r"(?:\[(?P<v6>[0-9a-f:.]+)\]|(?P<name>[a-z0-9_.-]+))(?::[0-9]{1,5})?")
_REMEMBERED = 64  # Host values found allowed, kept so the common case is one set lookup
Address = ipaddress.IPv4Address | ipaddress.IPv6Address


def checked_entries(entries: Iterable[str]) -> tuple[str, ...]:
    """`allowed_hosts` entries in their one spelling; a malformed one is a ValueError naming it."""
    checked: dict[str, None] = {}
    for raw in entries:
        entry = raw.strip().lower().removesuffix(".")
        address = _address(entry.strip("[]"))
        if address is not None:
            entry = str(address)
        elif not _NAME.fullmatch(entry.removeprefix("*.")):
            raise ValueError(
                f"allowed_hosts: {raw!r} is not a host name, *.domain or IP address "
                "(no scheme, port or path)"
            )
        checked[entry] = None
    return tuple(checked)


def platform_hosts(environ: Mapping[str, str]) -> tuple[str, ...]:
    """The names Databricks Apps serves the app under (see the module's docstring)."""
    found = [APPS_DOMAIN] if environ.get("DATABRICKS_APP_PORT", "").strip() else []
    raw_url = environ.get("DATABRICKS_APP_URL", "").strip()
    if raw_url:
        found.append(urlsplit(raw_url if "://" in raw_url else f"https://{raw_url}").hostname or "")
    try:
        return checked_entries(found)
    except ValueError:
        raise ValueError(f"DATABRICKS_APP_URL is not a URL: {echo(raw_url)!r}") from None


class HostNames:
    """Whether a Host header names this service: loopback, the bind address, the allowed list."""

    def __init__(self, listen_host: str, allowed: Iterable[str] = ()) -> None:
        listen = listen_host.strip().lower().strip("[]")
        entries = checked_entries(allowed)
        bound = _address(listen)
        self._any_address = bound is not None and bound.is_unspecified
        self._shown = [*LOOPBACK, "any IP address" if self._any_address else listen, *entries]
        addresses: list[Address] = []
        names = ["localhost"]
        for entry in (listen, *entries):
            address = _address(entry)
            if address is None:
                names.append(entry)
            elif not address.is_unspecified:
                addresses.append(address)
        self._addresses = frozenset(addresses)
        self._names = frozenset(name for name in names if not name.startswith("*."))
        self._suffixes = tuple(name[1:] for name in names if name.startswith("*."))
        self._known: set[bytes] = set()

    def shown(self) -> list[str]:
        """The names, as the start-up line gives them."""
        return list(dict.fromkeys(self._shown))

    def allows(self, value: bytes) -> bool:
        """Whether a Host header's value is one of ours (remembered when it is)."""
        if value in self._known:
            return True
        match = _HOST.fullmatch(value.decode("latin-1").strip().lower())
        if match is None:
            return False
        name = match["v6"] or match["name"].removesuffix(".")
        address = _address(name)
        if address is not None:
            allowed = address.is_loopback or self._any_address or address in self._addresses
        else:
            allowed = name in self._names or name.endswith(self._suffixes)
        if allowed and len(self._known) < _REMEMBERED:
            self._known.add(value)
        return allowed


def _address(text: str) -> Address | None:
    try:
        address = ipaddress.ip_address(text)
    except ValueError:
        return None
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        return address.ipv4_mapped
    return address
