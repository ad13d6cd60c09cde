"""The gateway's RPC client tells a lost broker from a bug of its own, without a broker.

py-amqp meets a connection that dropped under it as ``AttributeError`` (its socket is
``None``): that is "service unavailable" (503) or, while waiting for the answer, a timeout
(504). The same error raised by the gateway's own code is a bug: it must answer 500 and be
logged, not pass for a broker outage that clients retry.
"""

from __future__ import annotations

import logging
from typing import Any

import amqp
import pytest
from amqp.transport import TCPTransport

import gateway.rpc
from gateway.app import create_app
from gateway.context import issue_access_token
from gateway.rpc import RpcClient
from services.common.config import get_settings
from services.common.errors import ServiceTimeout, ServiceUnavailable


def dropped_connection() -> amqp.Connection:
    """A py-amqp connection whose transport let go of its socket, as after the broker
    closed it."""
    transport = TCPTransport("127.0.0.1:1")
    transport.close()
    connection = amqp.Connection("127.0.0.1:1")
    connection._transport = transport
    return connection


class FakeProducer:
    def __init__(self, publish: Any) -> None:
        self.publish = publish


class FakeLink:
    """A thread's link (``gateway.rpc._ThreadLink``) without a broker behind it."""

    def __init__(self, *, producer: Any, drain: Any = None) -> None:
        self.reply_to = "rpc.reply-test"
        self.producer = producer
        self.connection = type("FakeConnection", (), {"drain_events": staticmethod(drain)})()
        self.waiting_for: str | None = None
        self.reply: dict | None = None
        self.returned = False
        self.closed = False

    def has_consumers(self, service: str) -> bool:
        return True

    def close(self) -> None:
        self.closed = True


def client_with(monkeypatch: pytest.MonkeyPatch, **link: Any) -> tuple[RpcClient, list]:
    links: list[FakeLink] = []

    def make_link(*args: Any) -> FakeLink:
        links.append(FakeLink(**link))
        return links[-1]

    monkeypatch.setattr(gateway.rpc, "_ThreadLink", make_link)
    return RpcClient("amqp://guest:guest@127.0.0.1:1//", timeout=2), links


def lost_while_publishing(*args: Any, **kwargs: Any) -> None:
    with dropped_connection().transport.having_timeout(1.0):
        pass


def test_attribute_error_of_the_gateways_own_code_is_not_a_lost_broker(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # A link without a producer: ``RpcClient._publish`` fails on ``None.publish``.
    client, links = client_with(monkeypatch, producer=None)
    with pytest.raises(AttributeError, match="publish"):
        client.call("partners", "ping", caller="token")
    assert len(links) == 1, "a bug is not retried on a new connection"
    assert not links[0].closed


def test_attribute_error_of_py_amqp_while_publishing_is_service_unavailable(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    client, links = client_with(monkeypatch, producer=FakeProducer(lost_while_publishing))
    with pytest.raises(ServiceUnavailable):
        client.call("partners", "ping", caller="token")
    assert len(links) == 2, "reconnected once, as after any lost connection"
    assert links[0].closed


def test_attribute_error_of_py_amqp_while_waiting_is_a_timeout(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    client, links = client_with(
        monkeypatch,
        producer=FakeProducer(lambda *args, **kwargs: None),
        drain=dropped_connection().drain_events,
    )
    with pytest.raises(ServiceTimeout, match="lost the connection"):
        client.call("partners", "ping", caller="token")
    assert links[0].closed


def test_attribute_error_of_the_gateways_own_code_while_waiting_is_not_a_timeout(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    def drain(timeout: float) -> None:
        raise AttributeError("'NoneType' object has no attribute 'body'")

    client, links = client_with(
        monkeypatch, producer=FakeProducer(lambda *args, **kwargs: None), drain=drain
    )
    with pytest.raises(AttributeError, match="body"):
        client.call("partners", "ping", caller="token")
    assert not links[0].closed


def test_a_call_the_broker_nacks_is_service_unavailable_not_a_bug(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # A quorum queue whose leader was lost that instant nacks the call: it was not taken,
    # so the answer is 503 (clients send it again), never 500.
    published = []

    def nacked(*args: Any, **kwargs: Any) -> None:
        published.append(kwargs)
        raise amqp.exceptions.MessageNacked()

    client, links = client_with(monkeypatch, producer=FakeProducer(nacked))
    with pytest.raises(ServiceUnavailable, match="did not take the call"):
        client.call("orders", "approve_order", caller="token", timeout=3)
    assert len(published) == 1 and links[0].waiting_for is None
    assert 0 < published[0]["confirm_timeout"] <= 3, "the confirm waits no longer than the call"


def test_a_call_without_a_confirm_in_time_is_a_timeout_and_is_not_sent_again(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # No confirm within the call's time: the broker may have taken it, so it is not sent
    # again (504: "may or may not"), and the link is dropped (its channel still waits).
    published = []

    def unconfirmed(*args: Any, **kwargs: Any) -> None:
        published.append(kwargs)
        raise TimeoutError("timed out")

    client, links = client_with(monkeypatch, producer=FakeProducer(unconfirmed))
    with pytest.raises(ServiceTimeout):
        client.call("orders", "approve_order", caller="token")
    assert len(published) == 1 and len(links) == 1 and links[0].closed


@pytest.mark.parametrize(
    ("producer", "status", "code"),
    [
        (None, 500, "internal_error"),
        (FakeProducer(lost_while_publishing), 503, "service_unavailable"),
    ],
    ids=["own-bug", "broker-lost"],
)
def test_http_answer_tells_a_bug_from_a_lost_broker(
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
    producer: Any,
    status: int,
    code: str,
) -> None:
    client, _ = client_with(monkeypatch, producer=producer)
    app = create_app(get_settings(), rpc=client)
    with app.test_request_context():
        token, _ = issue_access_token(7)
    with caplog.at_level(logging.ERROR, logger="gateway.errors"):
        response = app.test_client().get("/api/v1/me", headers={"Authorization": f"Bearer {token}"})
    assert response.status_code == status
    assert response.get_json()["code"] == code
    logged = [record for record in caplog.records if record.exc_info]
    if status == 500:
        assert logged and logged[0].exc_info[0] is AttributeError
    else:
        assert not logged
