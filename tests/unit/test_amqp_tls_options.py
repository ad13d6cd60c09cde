"""An ``amqps://`` broker must show a certificate for the host the URI names: the TLS
options every connection of the project is given (``amqp_ssl``), and what py-amqp makes of
them. The handshake itself is in tests/integration/test_amqp_tls.py."""

from __future__ import annotations

import dataclasses
import socket
import ssl
from pathlib import Path
from typing import Any

import pytest
from amqp.transport import SSLTransport

from gateway.rpc import RpcClient
from services.common.amqp import ConfirmingPublisher
from services.common.config import ConfigError, amqp_ssl, get_settings
from services.common.errors import ServiceUnavailable

URI = "amqps://prm-gateway:pw@prm-rabbitmq.prm.svc:5671/prm"


def _options(uri: str) -> dict[str, Any]:
    options = amqp_ssl(uri)
    assert options is not None
    return options


@pytest.fixture(autouse=True)
def _no_ca_setting(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("PRM_AMQP_CA_FILE", raising=False)
    monkeypatch.delenv("SSL_CERT_FILE", raising=False)


def test_amqps_checks_the_host_name_of_the_uri() -> None:
    options = amqp_ssl(URI)
    assert options == {"server_hostname": "prm-rabbitmq.prm.svc", "cert_reqs": ssl.CERT_REQUIRED}


def test_plain_amqp_has_no_tls() -> None:
    assert amqp_ssl("amqp://guest:guest@localhost:5672/") is None


def test_localhost_is_checked_as_localhost() -> None:
    # kombu connects to 127.0.0.1 for "localhost"; the name checked must stay the URI's.
    assert _options("amqps://u:p@localhost/")["server_hostname"] == "localhost"
    assert _options("amqps://u:p@[::1]:5671/")["server_hostname"] == "::1"


def test_the_ca_file_is_prm_amqp_ca_file_then_ssl_cert_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    ours, system = tmp_path / "broker-ca.pem", tmp_path / "bundle.pem"
    ours.write_text("x")
    system.write_text("x")
    monkeypatch.setenv("SSL_CERT_FILE", str(system))
    assert _options(URI)["ca_certs"] == str(system)
    monkeypatch.setenv("PRM_AMQP_CA_FILE", str(ours))
    assert _options(URI)["ca_certs"] == str(ours)


@pytest.mark.parametrize(
    "uri",
    [
        "amqps://u:p@broker/?ssl_cert_reqs=CERT_NONE",
        "amqp://u:p@broker/?ssl=true",
        "amqps://u:p@a:5671/;amqps://u:p@b:5671/",
    ],
)
def test_what_would_bypass_or_blur_the_check_is_refused(uri: str) -> None:
    with pytest.raises(ConfigError):
        amqp_ssl(uri)


def test_an_unreadable_ca_file_stops_the_process(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PRM_AMQP_CA_FILE", str(tmp_path / "missing.pem"))
    with pytest.raises(ConfigError, match="cannot be read"):
        amqp_ssl(URI)


def test_py_amqp_turns_the_options_into_a_hostname_check() -> None:
    transport = SSLTransport("prm-rabbitmq.prm.svc:5671", ssl=amqp_ssl(URI))
    with socket.socket() as raw:  # never connected
        wrapped = transport._wrap_socket(raw, **transport.sslopts)
        assert wrapped.context.check_hostname is True
        assert wrapped.context.verify_mode == ssl.CERT_REQUIRED
        assert wrapped.server_hostname == "prm-rabbitmq.prm.svc"
        wrapped.detach()


def test_without_options_py_amqp_checks_no_name() -> None:
    """What ``amqps://`` alone gave before (kombu's ``ssl=True``): no name is checked."""
    transport = SSLTransport("prm-rabbitmq.prm.svc:5671", ssl=True)
    with socket.socket() as raw:
        wrapped = transport._wrap_socket(raw, **transport.sslopts)
        assert wrapped.context.check_hostname is False
        wrapped.detach()


def test_nameko_gets_the_options() -> None:
    settings = dataclasses.replace(get_settings(), amqp_uri=URI)
    assert settings.nameko_config()["AMQP_SSL"] == amqp_ssl(URI)
    plain = dataclasses.replace(get_settings(), amqp_uri="amqp://guest:guest@localhost:5672/")
    assert plain.nameko_config()["AMQP_SSL"] is None


class _Refused(OSError):
    pass


def _recording(seen: list[dict[str, Any]]) -> Any:
    def connection(uri: str, **kwargs: Any) -> Any:
        seen.append(kwargs)
        raise _Refused("no broker in a unit test")

    return connection


def test_the_confirming_publisher_connects_with_the_options(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    seen: list[dict[str, Any]] = []
    monkeypatch.setattr("services.common.amqp.Connection", _recording(seen))
    with pytest.raises(ConnectionError):
        ConfirmingPublisher(URI).publish({}, routing_key="x")
    assert seen[0]["ssl"] == amqp_ssl(URI)


def test_the_gateway_connects_with_the_options(monkeypatch: pytest.MonkeyPatch) -> None:
    seen: list[dict[str, Any]] = []
    monkeypatch.setattr("gateway.rpc.Connection", _recording(seen))
    with pytest.raises(ServiceUnavailable):
        RpcClient(URI).call("partners", "ping", caller="system")
    assert seen[0]["ssl"] == amqp_ssl(URI)
