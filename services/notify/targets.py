"""Which webhook URLs the server may call.

Only http and https, and only hosts whose every address is public: a URL that resolves to
a loopback, private, link-local, shared, reserved or multicast address is refused, so that
nobody can use the platform to reach its own network (metadata endpoints, the broker, the
database). The check runs when a channel is registered and again before each send (a
name can be re-pointed after registration), and once more on the connection itself: a
name that resolved to a public address for the check may resolve to a private one a moment
later (DNS rebinding), so ``webhook_session`` refuses a connection whose peer is not public.
Webhooks therefore go out directly, never through a proxy from the environment.
Configuration may allow private targets (``PRM_WEBHOOK_ALLOW_PRIVATE``) for tests and
on-premise receivers.
"""

from __future__ import annotations

import ipaddress
import socket
from collections.abc import Callable, Iterable
from urllib.parse import urlsplit

import requests
from requests.adapters import HTTPAdapter
from urllib3.connection import HTTPConnection, HTTPSConnection
from urllib3.connectionpool import HTTPConnectionPool, HTTPSConnectionPool
from urllib3.exceptions import NewConnectionError

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


def _checked_peer(connection: HTTPConnection, sock: socket.socket) -> socket.socket:
    address = str(sock.getpeername()[0])
    try:
        public = is_public(address)
    except ValueError:
        public = False
    if not public:
        sock.close()
        raise NewConnectionError(
            connection, "the host is a loopback, private, link-local or reserved address"
        )
    return sock


class _PublicHTTPConnection(HTTPConnection):
    def _new_conn(self) -> socket.socket:
        return _checked_peer(self, super()._new_conn())


class _PublicHTTPSConnection(HTTPSConnection):
    def _new_conn(self) -> socket.socket:
        return _checked_peer(self, super()._new_conn())


class _PublicHTTPPool(HTTPConnectionPool):
    ConnectionCls = _PublicHTTPConnection


class _PublicHTTPSPool(HTTPSConnectionPool):
    ConnectionCls = _PublicHTTPSConnection


class _PublicOnlyAdapter(HTTPAdapter):
    def init_poolmanager(self, *args, **kwargs) -> None:  # type: ignore[no-untyped-def]
        super().init_poolmanager(*args, **kwargs)
        self.poolmanager.pool_classes_by_scheme = {
            "http": _PublicHTTPPool,
            "https": _PublicHTTPSPool,
        }


def webhook_session(allow_private: bool) -> requests.Session:
    """A session that connects only to public addresses (unless ``allow_private``), judged
    on the address actually connected to, and never through a proxy."""
    session = requests.Session()
    if not allow_private:
        session.trust_env = False
        adapter = _PublicOnlyAdapter()
        session.mount("http://", adapter)
        session.mount("https://", adapter)
    return session
