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

An IO adapter: it resolves names and opens connections; it never touches the database.
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


#: The only IPv6 space handed out as global unicast; anything outside it (IPv4-compatible
#: ``::a.b.c.d``, site-local ``fec0::/10``, unique local, link-local, multicast, local-use
#: NAT64 ``64:ff9b:1::/48``, SRv6 ``5f00::/16``, ...) is no internet host.
_GLOBAL_UNICAST = ipaddress.IPv6Network("2000::/3")
#: Inside 2000::/3 but not hosts to call: IETF protocol assignments (Teredo ``2001::/32``,
#: whose client address is hidden, among them) and the documentation prefixes. Listed here
#: because ``is_global`` differs between Python releases.
_NOT_GLOBAL_V6 = tuple(
    ipaddress.IPv6Network(net) for net in ("2001::/23", "2001:db8::/32", "3fff::/20")
)
#: NAT64's well-known prefix: the gateway translates to the IPv4 address in the last 32 bits.
_NAT64 = ipaddress.IPv6Network("64:ff9b::/96")


def _embedded_ipv4(ip: ipaddress.IPv6Address) -> ipaddress.IPv4Address | None:
    """The IPv4 address a packet to ``ip`` ends up at: IPv4-mapped, NAT64, 6to4."""
    if ip.ipv4_mapped is not None:
        return ip.ipv4_mapped
    if ip in _NAT64:
        return ipaddress.IPv4Address(int(ip) & 0xFFFFFFFF)
    return ip.sixtofour


def is_public(address: str) -> bool:
    """A globally routable unicast address. An IPv6 address that carries an IPv4 one to a
    translator (IPv4-mapped, NAT64, 6to4) is judged as that IPv4 address; other
    transition and special-purpose ranges are never public."""
    ip = ipaddress.ip_address(address.split("%", 1)[0])
    if isinstance(ip, ipaddress.IPv6Address):
        embedded = _embedded_ipv4(ip)
        if embedded is not None:
            ip = embedded
        elif ip not in _GLOBAL_UNICAST or any(ip in net for net in _NOT_GLOBAL_V6):
            return False
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
    def init_poolmanager(self, *args, **kwargs) -> None:
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
