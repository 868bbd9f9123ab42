"""Which access mode the service runs in, and the start-ups it refuses rather than run exposed.

The mode comes from, first to last: ACCESS_MODE, `[access] mode`, `apps` when Databricks Apps
runs us (DATABRICKS_APP_PORT is set), `open` when the service listens on loopback only (`make
run`). Anything else must say which mode it wants: a sidecar on a shared address that guessed
`open` would let anyone who reaches the port start runs. Only serving is refused (`serve`,
`dev`, `check-config`): the Python API serves no one and needs no mode.

Some settings are allowed but worth a second look: `trust_warnings` names them, and start-up
logs each (`config.warning`; `check-config` prints them).
"""

from __future__ import annotations

import ipaddress
from collections.abc import Mapping

from service.errors import ConfigError
from service.hosts import HostNames
from service.settings_file import ACCESS_MODES, AccessMode, AccessTable

LISTEN_ANYWHERE = "0.0.0.0"  # noqa: S104 - HOST's default: a container publishes its port
_IPV4_MAPPED = ipaddress.IPv6Network("::ffff:0:0/96")


def resolve_mode(table: AccessTable, environ: Mapping[str, str]) -> AccessMode | None:
    """The mode by the rules above; None when none applies (serving then stops: `refusal`)."""
    raw = environ.get("ACCESS_MODE", "").strip().lower()
    if raw and raw not in ACCESS_MODES:
        raise ConfigError(f"ACCESS_MODE must be one of {', '.join(ACCESS_MODES)}, got {raw!r}")
    mode = next((m for m in ACCESS_MODES if m == raw), None) or table.mode
    if mode is None and environ.get("DATABRICKS_APP_PORT", "").strip():
        return "apps"
    if mode is None and is_loopback(environ.get("HOST", LISTEN_ANYWHERE).strip()):
        return "open"
    return mode


def refusal(access: AccessTable, listen_host: str, key_count: int) -> str | None:
    """Why serving with these settings would be unsafe or useless, in one line; else None."""
    if access.mode is None:
        return (
            f"no access mode for a service listening on {listen_host}: set ACCESS_MODE (or "
            '[access] mode) to "token" (API keys), "apps" (behind the Databricks Apps proxy) or '
            '"open" (no authentication)'
        )
    if access.mode == "open" and not is_loopback(listen_host) and not access.allow_open:
        return (
            f"open mode would let anyone who reaches {listen_host} trigger and cancel runs: "
            "listen on 127.0.0.1 (HOST), choose token or apps mode, or set [access] "
            "allow_open = true on purpose"
        )
    if access.mode == "token" and key_count == 0:
        return (
            "token mode has no API keys: set SIDECAR_API_KEYS=name:secret[,name:secret...] or "
            '[access] api_keys_file = "<file of name:secret lines>"'
        )
    return None


def trust_warnings(access: AccessTable, listen_host: str) -> list[str]:
    """What these settings trust that anyone on the network could use: a proxy range holding
    every address (apps), or open mode off loopback (allowed by `allow_open`)."""
    warnings = []
    if access.mode == "apps":
        everyone = [cidr for cidr in access.trusted_proxies if _world_wide(cidr)]
        if everyone:
            warnings.append(
                f"[access] trusted_proxies {', '.join(everyone)} holds every address: any peer "
                "that reaches the port can name itself any user (X-Forwarded-Email) and forward "
                "any token; narrow it to the proxy's range"
            )
    if access.mode == "open" and not is_loopback(listen_host):
        warnings.append(
            f"open mode on {listen_host} (allow_open = true): anyone who reaches the port may "
            "trigger and cancel runs, as `anonymous`"
        )
    return warnings


def _world_wide(cidr: str) -> bool:
    """0.0.0.0/0, ::/0, or every IPv4 address as IPv4-mapped IPv6 (::ffff:0:0/96 or wider)."""
    network = ipaddress.ip_network(cidr.strip(), strict=False)
    return network.prefixlen == 0 or (
        isinstance(network, ipaddress.IPv6Network) and network.supernet_of(_IPV4_MAPPED)
    )


def is_loopback(host: str) -> bool:
    """127.0.0.0/8, ::1 or `localhost`: only this machine can connect."""
    if host.lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def in_force(access: AccessTable, listen_host: str) -> dict[str, object]:
    """What start-up says is trusted: the mode, the peers whose forwarded headers are believed
    (apps mode only, else none), and the Host names answered (service.hosts)."""
    return {
        "mode": access.mode,
        "trusted_proxies": list(access.trusted_proxies) if access.mode == "apps" else [],
        "allowed_hosts": HostNames(listen_host, access.allowed_hosts).shown(),
    }
