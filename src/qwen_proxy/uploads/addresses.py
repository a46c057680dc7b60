"""Which network addresses the gateway may fetch a client's URL from (pure).

A URL a client sends is fetched by the gateway, from the gateway's network: without a check, a
client could make it read a private service, the loopback interface or the cloud's metadata
endpoint (169.254.169.254, or 100.100.100.200 on Alibaba Cloud). Only globally routable
unicast addresses pass; an IPv4 address written as IPv6 (``::ffff:127.0.0.1``) is judged as the
IPv4 address it is.
"""

from __future__ import annotations

import ipaddress


def address_allowed(address: str) -> bool:
    """True when ``address`` (an IP literal) is a public unicast address."""
    try:
        ip = ipaddress.ip_address(address.split("%", 1)[0])
    except ValueError:
        return False
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        ip = ip.ipv4_mapped
    return ip.is_global and not ip.is_multicast


def ip_literal(host: str) -> str | None:
    """``host`` when it is an IP address (IPv6 with or without brackets), else None."""
    bare = host.strip("[]")
    try:
        ipaddress.ip_address(bare.split("%", 1)[0])
    except ValueError:
        return None
    return bare
