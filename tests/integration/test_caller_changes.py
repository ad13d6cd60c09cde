"""The gateway worker's listener (gateway/callers.py ChangeListener) on the run's broker:
partners' changes reach the cache, other kinds do not, and a lost connection forgets
everything and serves nothing kept until it is back."""

from __future__ import annotations

import os
import socket
import time
from collections.abc import Callable, Iterator

import pytest
from kombu import Connection, Exchange, Producer

from gateway.callers import CallerCache, ChangeListener
from services.common import broker
from services.partners import events


def eventually(condition: Callable[[], bool], what: str, within: float = 15.0) -> None:
    deadline = time.monotonic() + within
    while not condition():
        assert time.monotonic() < deadline, f"never {what}"
        time.sleep(0.02)


@pytest.fixture
def operator() -> Iterator[Connection]:
    with Connection(os.environ["AMQP_URI"]) as connection:
        broker.declare_shared(connection.default_channel)
        yield connection


@pytest.fixture
def listening(operator: Connection) -> Iterator[tuple[ChangeListener, CallerCache]]:
    cache = CallerCache(ttl=60)
    listener = ChangeListener(os.environ["AMQP_URI"], cache, retry_wait=0.1)
    listener.start()
    try:
        eventually(lambda: cache.online, "connected")
        yield listener, cache
    finally:
        listener.stop()


def publish(operator: Connection, kind: str, data: dict) -> None:
    exchange = Exchange(broker.events_exchange("partners"), type="topic", durable=True)
    Producer(operator.default_channel).publish(
        {"type": kind, "data": data}, exchange=exchange, routing_key=kind, serializer="json"
    )


def test_partners_changes_reach_the_cache_and_other_kinds_do_not(
    listening: tuple[ChangeListener, CallerCache], operator: Connection
) -> None:
    _, cache = listening
    cache.put((7, 0), {"id": 7}, cache.generation())
    cache.put((8, 0), {"id": 8}, cache.generation())

    publish(operator, events.USER_CHANGED, {"id": 7})
    eventually(lambda: cache.events_seen == 1, "told of the user's change")
    assert cache.get((7, 0)) is None
    assert cache.get((8, 0)) == {"id": 8}

    publish(operator, events.PARTNER_TYPE_CHANGED, {"code": "city"})  # names no caller
    publish(operator, events.PARTNER_SUSPENDED, {"id": 3})
    eventually(lambda: cache.events_seen >= 2, "told of the suspension")
    assert cache.events_seen == 2, "a kind that changes no caller was delivered"
    assert cache.get((8, 0)) is None


def test_a_lost_connection_serves_nothing_kept_and_forgets_it(
    listening: tuple[ChangeListener, CallerCache],
) -> None:
    listener, cache = listening
    cache.put((7, 0), {"id": 7}, cache.generation())
    connection = listener._connection
    assert connection is not None
    connection.connection.sock.shutdown(socket.SHUT_RDWR)  # the broker is gone

    eventually(lambda: not cache.online, "noticed the lost connection")
    assert cache.get((7, 0)) is None
    assert cache.generation() is None, "an answer resolved while offline would be kept"

    eventually(lambda: cache.online, "connected again")
    assert cache.get((7, 0)) is None, "what was kept before the outage is served again"
    cache.put((7, 0), {"id": 7}, cache.generation())
    assert cache.get((7, 0)) == {"id": 7}
