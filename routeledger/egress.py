"""Where the router may connect: configured upstreams only, never private or metadata addresses
unless a provider is explicitly allowed to be local (reliability plan G37).

Checked twice: at config load for addresses written in the file, and at connect time for every DNS
answer (`GuardedResolver`), so a name that resolves to a public address during validation and to
169.254.169.254 a minute later (DNS rebinding) is refused when it matters.
"""

from __future__ import annotations

import ipaddress
import socket
from typing import Any

#: Names that always mean "this machine or its cloud metadata service".
_LOCAL_NAMES = ("localhost", "metadata.google.internal", "metadata")


class EgressRefused(OSError):
    """A connection to a forbidden address was refused before it was made."""


def address_reason(address: str) -> str | None:
    """Why connecting to this IP address is forbidden, or None."""
    try:
        ip = ipaddress.ip_address(address.split("%")[0])
    except ValueError:
        return None
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        ip = ip.ipv4_mapped
    if ip.is_loopback:
        return f"{address} is a loopback address"
    if ip.is_link_local:
        return f"{address} is link-local (cloud metadata lives there)"
    if ip.is_private or ip.is_reserved or ip.is_unspecified or ip.is_multicast:
        return f"{address} is a private or reserved address"
    return None


def forbidden_reason(host: str) -> str | None:
    """Why this configured host is forbidden, judged without network access (names are judged
    again when they resolve)."""
    host = host.strip("[]").lower()
    if host in _LOCAL_NAMES or host.endswith((".localhost", ".internal")):
        return f"{host} names a local or metadata service"
    return address_reason(host)


def guarded_resolver(allowed_hosts: frozenset[str]) -> Any:
    """An aiohttp resolver that refuses forbidden answers for hosts not allowed to be private."""
    from aiohttp.abc import AbstractResolver
    from aiohttp.resolver import ThreadedResolver

    class GuardedResolver(AbstractResolver):
        def __init__(self) -> None:
            self._inner = ThreadedResolver()

        async def resolve(self, host: str, port: int = 0, family: socket.AddressFamily = socket.AF_INET) -> Any:
            answers = await self._inner.resolve(host, port, family)
            if host.lower() not in allowed_hosts:
                for answer in answers:
                    reason = address_reason(str(answer["host"]))
                    if reason:
                        raise EgressRefused(f"refused to connect to {host}: {reason}")
            return answers

        async def close(self) -> None:
            await self._inner.close()

    return GuardedResolver()
