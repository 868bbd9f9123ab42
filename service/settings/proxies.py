"""`[access] trusted_proxies` as networks: the peers whose X-Forwarded-* headers are believed."""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable

Network = ipaddress.IPv4Network | ipaddress.IPv6Network


def trusted_networks(cidrs: Iterable[str]) -> tuple[Network, ...]:
    """The CIDRs as networks; a malformed one is a ValueError naming it."""
    networks = []
    for cidr in cidrs:
        try:
            networks.append(ipaddress.ip_network(cidr.strip(), strict=False))
        except ValueError:
            raise ValueError(f"trusted_proxies: {cidr!r} is not a CIDR (e.g. 10.0.0.0/8)") from None
    return tuple(networks)
