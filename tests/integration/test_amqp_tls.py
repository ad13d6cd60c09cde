"""The project's broker connections over ``amqps://`` refuse a broker whose certificate
names another host, even one a trusted CA signed, before the login leaves the client.

A local TLS server plays the broker (python's ssl, a CA of this module's own): it completes
the handshake and reads the first bytes, which on a good connection are the AMQP protocol
header, then hangs up. No AMQP is spoken past that: the client's error says whether it
stopped at the certificate or later."""

from __future__ import annotations

import contextlib
import dataclasses
import datetime
import socket
import ssl
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID
from kombu import Connection
from nameko.containers import ServiceContainer
from nameko.messaging import QueueConsumer
from nameko.standalone.events import event_dispatcher

from gateway.rpc import RpcClient
from services.common.amqp import ConfirmingPublisher
from services.common.config import get_settings
from services.common.context import Caller
from tests.support.kit_services import KitService

AMQP_HEADER = b"AMQP\x00\x00\x09\x01"
#: OpenSSL's X509_V_ERR_HOSTNAME_MISMATCH and X509_V_ERR_UNABLE_TO_GET_ISSUER_CERT_LOCALLY.
HOSTNAME_MISMATCH = 62
UNKNOWN_ISSUER = 20


# -- a CA and certificates of this module's own --------------------------------------------


def _name(common_name: str) -> x509.Name:
    return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name)])


def _write_key(key: ec.EllipticCurvePrivateKey, path: Path) -> None:
    path.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )


_CA_USAGE = x509.KeyUsage(
    digital_signature=True,
    content_commitment=False,
    key_encipherment=False,
    data_encipherment=False,
    key_agreement=False,
    key_cert_sign=True,
    crl_sign=True,
    encipher_only=False,
    decipher_only=False,
)


@dataclasses.dataclass(frozen=True)
class _Authority:
    key: ec.EllipticCurvePrivateKey
    cert: x509.Certificate
    directory: Path

    @classmethod
    def make(cls, directory: Path, name: str) -> _Authority:
        key = ec.generate_private_key(ec.SECP256R1())
        now = datetime.datetime.now(datetime.UTC)
        cert = (
            x509.CertificateBuilder()
            .subject_name(_name(name))
            .issuer_name(_name(name))
            .public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - datetime.timedelta(minutes=5))
            .not_valid_after(now + datetime.timedelta(days=1))
            .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
            .add_extension(_CA_USAGE, critical=True)
            .add_extension(
                x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False
            )
            .sign(key, hashes.SHA256())
        )
        directory.mkdir(parents=True, exist_ok=True)
        (directory / "ca.pem").write_bytes(cert.public_bytes(serialization.Encoding.PEM))
        return cls(key, cert, directory)

    @property
    def ca_file(self) -> Path:
        return self.directory / "ca.pem"

    def issue(self, host: str) -> tuple[Path, Path]:
        """A server certificate for ``host`` (its only name) and its key: (cert, key)."""
        key = ec.generate_private_key(ec.SECP256R1())
        now = datetime.datetime.now(datetime.UTC)
        cert = (
            x509.CertificateBuilder()
            .subject_name(_name(host))
            .issuer_name(self.cert.subject)
            .public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - datetime.timedelta(minutes=5))
            .not_valid_after(now + datetime.timedelta(days=1))
            .add_extension(x509.SubjectAlternativeName([x509.DNSName(host)]), critical=False)
            .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
            .add_extension(
                x509.ExtendedKeyUsage([x509.oid.ExtendedKeyUsageOID.SERVER_AUTH]), critical=False
            )
            .add_extension(
                x509.AuthorityKeyIdentifier.from_issuer_public_key(self.key.public_key()),
                critical=False,
            )
            .sign(self.key, hashes.SHA256())
        )
        cert_path, key_path = self.directory / f"{host}.pem", self.directory / f"{host}.key"
        cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
        _write_key(key, key_path)
        return cert_path, key_path


# -- the broker's stand-in ----------------------------------------------------------------


class _TlsServer:
    """Accepts TLS connections on 127.0.0.1 with one certificate; records, for each, the
    first bytes read after the handshake, or the handshake's error."""

    def __init__(self, cert: Path, key: Path) -> None:
        self.context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        self.context.load_cert_chain(str(cert), str(key))
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(8)
        self.port = self.sock.getsockname()[1]
        self.sessions: list[tuple[str, bytes | str]] = []
        self._closing = False
        self._thread = threading.Thread(target=self._serve, daemon=True)
        self._thread.start()

    def _serve(self) -> None:
        while True:
            try:
                raw, _ = self.sock.accept()
            except OSError:
                return  # closed
            if self._closing:
                raw.close()
                self.sock.close()
                return
            raw.settimeout(5)
            try:
                tls = self.context.wrap_socket(raw, server_side=True)
            except (ssl.SSLError, OSError) as exc:
                self.sessions.append(("refused", repr(exc)))
                raw.close()
                continue
            try:
                self.sessions.append(("handshake", tls.recv(len(AMQP_HEADER))))
            except OSError as exc:
                self.sessions.append(("handshake", repr(exc)))
            finally:
                tls.close()

    def session(self, timeout: float = 5.0) -> tuple[str, bytes | str]:
        """The first connection's record, once the server has it."""
        deadline = time.monotonic() + timeout
        while not self.sessions and time.monotonic() < deadline:
            time.sleep(0.02)
        assert self.sessions, "the client never reached the server"
        return self.sessions[0]

    def close(self) -> None:
        """Stop serving: the waiting accept is woken by a last connection and the listening
        socket closed by the thread that waits on it (closing it from here would leave that
        wait registered on a file number the next socket of the process reuses)."""
        self._closing = True
        with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", self.port), 2):
            pass
        self._thread.join(5)


@pytest.fixture(scope="module")
def authority(tmp_path_factory: pytest.TempPathFactory) -> _Authority:
    return _Authority.make(tmp_path_factory.mktemp("amqp-tls") / "trusted", "PRM test CA")


@pytest.fixture
def trusted(authority: _Authority, monkeypatch: pytest.MonkeyPatch) -> _Authority:
    """The CA that the clients trust, given as deploy/k8s gives it (``SSL_CERT_FILE``)."""
    monkeypatch.delenv("PRM_AMQP_CA_FILE", raising=False)
    monkeypatch.setenv("SSL_CERT_FILE", str(authority.ca_file))
    return authority


@pytest.fixture
def serve() -> Iterator[Callable[[tuple[Path, Path]], _TlsServer]]:
    servers: list[_TlsServer] = []

    def start(pair: tuple[Path, Path]) -> _TlsServer:
        servers.append(_TlsServer(*pair))
        return servers[-1]

    yield start
    for server in servers:
        server.close()


# -- the project's clients ------------------------------------------------------------------


def _nameko_config(uri: str) -> dict[str, Any]:
    return dataclasses.replace(get_settings(), amqp_uri=uri).nameko_config()


def _confirming_publisher(uri: str) -> None:
    """The outbox relay's and the event handlers' publisher."""
    ConfirmingPublisher(uri, connect_timeout=3).publish({}, routing_key="x")


def _gateway(uri: str) -> None:
    client = RpcClient(uri, timeout=3, connect_timeout=3)
    try:
        client.call("kit", "ping", caller=Caller.system_caller("test"))
    finally:
        client.close()


def _nameko_consumer(uri: str) -> None:
    """The connection a service's RPC and event entry points consume on."""
    container = ServiceContainer(KitService, _nameko_config(uri))
    consumer = next(
        ext for ext in container.shared_extensions.values() if isinstance(ext, QueueConsumer)
    )
    with consumer.connection as connection:
        connection.connect()


def _nameko_publisher(uri: str) -> None:
    """Nameko's publisher (events, RPC requests and replies) with the services' config."""
    event_dispatcher(_nameko_config(uri), retry=False)("kit", "tls_probe", {})


def _kombu_alone(uri: str) -> None:
    """What every connection did before: the URI only."""
    with Connection(uri, connect_timeout=3) as connection:
        connection.connect()


CLIENTS = {
    "confirming publisher": _confirming_publisher,
    "gateway rpc client": _gateway,
    "nameko consumer": _nameko_consumer,
    "nameko publisher": _nameko_publisher,
}


def _failure(connect: Callable[[str], None], uri: str) -> BaseException:
    with pytest.raises(Exception) as caught:
        connect(uri)
    return caught.value


def _certificate_error(exc: BaseException | None) -> ssl.SSLCertVerificationError | None:
    """The certificate check that failed somewhere in ``exc``'s chain, if any."""
    seen: set[int] = set()
    while exc is not None and id(exc) not in seen:
        if isinstance(exc, ssl.SSLCertVerificationError):
            return exc
        seen.add(id(exc))
        exc = exc.__cause__ or exc.__context__
    return None


# -- the tests ------------------------------------------------------------------------------


@pytest.mark.parametrize("client", CLIENTS)
def test_a_certificate_for_another_host_is_refused(
    client: str, trusted: _Authority, serve: Callable[[tuple[Path, Path]], _TlsServer]
) -> None:
    server = serve(trusted.issue("attacker.example"))  # the trusted CA signed it
    failure = _failure(CLIENTS[client], f"amqps://prm-u:s3cret-pw@localhost:{server.port}/")
    error = _certificate_error(failure)
    assert error is not None, f"not refused at the certificate: {failure!r}"
    assert error.verify_code == HOSTNAME_MISMATCH, error
    kind, _ = server.session()
    assert kind == "refused"  # no byte, let alone the login, went to the wrong host


@pytest.mark.parametrize("client", CLIENTS)
def test_a_certificate_for_the_host_from_the_trusted_ca_is_accepted(
    client: str, trusted: _Authority, serve: Callable[[tuple[Path, Path]], _TlsServer]
) -> None:
    server = serve(trusted.issue("localhost"))
    failure = _failure(CLIENTS[client], f"amqps://prm-u:s3cret-pw@localhost:{server.port}/")
    # It fails after the handshake: the stand-in hangs up instead of speaking AMQP.
    assert _certificate_error(failure) is None, failure
    assert server.session() == ("handshake", AMQP_HEADER)


def test_a_certificate_from_another_ca_is_refused(
    trusted: _Authority,
    tmp_path: Path,
    serve: Callable[[tuple[Path, Path]], _TlsServer],
) -> None:
    stranger = _Authority.make(tmp_path / "stranger", "Someone else's CA")
    server = serve(stranger.issue("localhost"))
    failure = _failure(_confirming_publisher, f"amqps://u:pw@localhost:{server.port}/")
    error = _certificate_error(failure)
    assert error is not None and error.verify_code == UNKNOWN_ISSUER, failure
    assert server.session()[0] == "refused"


def test_prm_amqp_ca_file_is_the_broker_s_ca_before_ssl_cert_file(
    trusted: _Authority,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    serve: Callable[[tuple[Path, Path]], _TlsServer],
) -> None:
    stranger = _Authority.make(tmp_path / "stranger", "Someone else's CA")
    monkeypatch.setenv("SSL_CERT_FILE", str(stranger.ca_file))
    monkeypatch.setenv("PRM_AMQP_CA_FILE", str(trusted.ca_file))
    server = serve(trusted.issue("localhost"))
    failure = _failure(_confirming_publisher, f"amqps://u:pw@localhost:{server.port}/")
    assert _certificate_error(failure) is None, failure
    assert server.session() == ("handshake", AMQP_HEADER)


def test_without_the_options_the_wrong_host_got_through(
    trusted: _Authority, serve: Callable[[tuple[Path, Path]], _TlsServer]
) -> None:
    """The stand-in tells the two apart: kombu's own ``amqps://`` (``ssl=True``), with the
    same CA trusted, completes the handshake with the other host's certificate."""
    server = serve(trusted.issue("attacker.example"))
    failure = _failure(_kombu_alone, f"amqps://u:pw@localhost:{server.port}/")
    assert _certificate_error(failure) is None, failure
    assert server.session() == ("handshake", AMQP_HEADER)
