"""Which webhook URLs the server may call.

Only http and https, and only hosts whose every address is public: a URL that resolves to
a loopback, private, link-local, shared, reserved or multicast address is refused, so that
nobody can use the platform to reach its own network (metadata endpoints, the broker, the
database). The check runs when a channel is registered and again before each send (a
name can be re-pointed after registration). Configuration may allow private targets
(``PRM_WEBHOOK_ALLOW_PRIVATE``) for tests and on-premise receivers.
"""

from __future__ import annotations

import ipaddress
import socket
from collections.abc import Callable, Iterable
from urllib.parse import urlsplit

Resolver = Callable[[str, int], Iterable[str]]

_DEFAULT_PORTS = {"http": 80, "https": 443}


def resolve_host(host: str, port: int) -> list[str]:
    """Every address ``host`` resolves to (literal addresses resolve to themselves)."""
    infos = socket.getaddrinfo(host, port, proto=socket.IPPROTO_TCP)
    return sorted({str(info[4][0]) for info in infos})


def is_public(address: str) -> bool:
    """A globally routable unicast address (IPv4-mapped IPv6 is judged as its IPv4)."""
    ip = ipaddress.ip_address(address.split("%", 1)[0])
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        ip = ip.ipv4_mapped
    return ip.is_global and not ip.is_multicast


def webhook_target_problem(
    url: str, allow_private: bool, resolve: Resolver = resolve_host
) -> str | None:
    """Why the server must not call ``url``; None when it may."""
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError:
        return "not a URL"
    if parts.scheme not in _DEFAULT_PORTS:
        return "only http and https URLs are accepted"
    host = parts.hostname
    if not host:
        return "the URL has no host"
    if allow_private:
        return None
    try:
        addresses = list(resolve(host, port or _DEFAULT_PORTS[parts.scheme]))
    except (OSError, UnicodeError):
        return "the host does not resolve"
    if not addresses:
        return "the host does not resolve"
    try:
        if not all(is_public(address) for address in addresses):
            return "the host is a loopback, private, link-local or reserved address"
    except ValueError:
        return "the host resolves to an unusable address"
    return None
