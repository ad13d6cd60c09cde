"""The confirming publisher tells a lost broker from a bug in the code that publishes."""

from __future__ import annotations

from typing import Any

import pytest

from services.common.amqp import ConfirmingPublisher


class _Connection:
    def __init__(self, connected: bool) -> None:
        self.connected = connected

    def release(self) -> None:
        pass


class _Producer:
    channel = None

    def publish(self, *args: Any, **kwargs: Any) -> None:
        raise AttributeError("'NoneType' object has no attribute 'write'")


def _publisher(connected: bool) -> ConfirmingPublisher:
    publisher = ConfirmingPublisher("amqp://127.0.0.1:1//")
    publisher._connection = _Connection(connected)
    publisher._producer = _Producer()
    return publisher


def test_attribute_error_with_the_connection_up_is_a_bug_not_a_broker_loss() -> None:
    with pytest.raises(AttributeError):
        _publisher(connected=True).publish({"a": 1}, routing_key="x")


def test_attribute_error_after_the_socket_went_away_is_a_lost_broker() -> None:
    with pytest.raises(ConnectionError):
        _publisher(connected=False).publish({"a": 1}, routing_key="x")
