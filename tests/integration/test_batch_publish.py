"""The confirming publisher sends a batch and waits for its confirms once: every message
arrives once, in order, a message no queue takes is told apart by its id, and a batch
that the broker refuses counts as not sent (real RabbitMQ)."""

from __future__ import annotations

import uuid
from collections.abc import Iterator

import pytest
from kombu import Connection, Exchange, Queue

from services.common.amqp import ConfirmingPublisher, Outgoing, Unroutable


@pytest.fixture
def bound(amqp_uri: str) -> Iterator[tuple[Exchange, Queue]]:
    name = f"test.batch.{uuid.uuid4().hex[:8]}"
    exchange = Exchange(name, "topic", durable=False, auto_delete=False)
    queue = Queue(name, exchange, routing_key="taken.#", durable=False)
    with Connection(amqp_uri) as connection:
        channel = connection.channel()
        exchange(channel).declare()
        queue(channel).declare()
        yield exchange, queue
        queue(channel).delete()
        exchange(channel).delete()


@pytest.fixture
def publisher(amqp_uri: str) -> Iterator[ConfirmingPublisher]:
    publisher = ConfirmingPublisher(amqp_uri, confirm_timeout=10)
    yield publisher
    publisher.close()


def _drained(amqp_uri: str, queue: Queue) -> list[dict]:
    bodies = []
    with Connection(amqp_uri) as connection:
        simple = connection.SimpleQueue(queue)
        while True:
            try:
                message = simple.get(timeout=0.5)
            except simple.Empty:
                break
            bodies.append(message.payload)
            message.ack()
        simple.close()
    return bodies


def _batch(keys: list[str]) -> list[Outgoing]:
    return [
        Outgoing({"n": n}, key, {"h": str(n)}, {"message_id": f"m-{n}"})
        for n, key in enumerate(keys)
    ]


def test_a_batch_arrives_whole_in_order_and_unroutable_ones_are_named(
    amqp_uri: str, bound: tuple[Exchange, Queue], publisher: ConfirmingPublisher
) -> None:
    exchange, queue = bound
    keys = ["taken.a" if n % 7 else "nobody.b" for n in range(300)]
    routed = publisher.publish_many(_batch(keys), exchange=exchange)
    assert routed == [key.startswith("taken.") for key in keys]
    # The next batch on the same channel counts its confirms afresh.
    assert publisher.publish_many(_batch(["taken.c", "nobody.d"]), exchange=exchange) == [
        True,
        False,
    ]
    bodies = _drained(amqp_uri, queue)
    expected = [{"n": n} for n, key in enumerate(keys) if key.startswith("taken.")]
    assert bodies == [*expected, {"n": 0}]


def test_a_single_publish_still_says_unroutable(
    bound: tuple[Exchange, Queue], publisher: ConfirmingPublisher
) -> None:
    exchange, _ = bound
    publisher.publish({"x": 1}, exchange=exchange, routing_key="taken.x")
    with pytest.raises(Unroutable):
        publisher.publish({"x": 2}, exchange=exchange, routing_key="nobody.x")


def test_a_batch_to_an_exchange_that_is_not_there_is_not_sent_and_the_next_goes(
    amqp_uri: str, bound: tuple[Exchange, Queue], publisher: ConfirmingPublisher
) -> None:
    exchange, queue = bound
    missing = Exchange(f"test.batch.missing.{uuid.uuid4().hex[:8]}", "topic")
    with pytest.raises(ConnectionError):
        publisher.publish_many(_batch(["taken.a", "taken.b"]), exchange=missing)
    assert publisher.publish_many(_batch(["taken.a", "taken.b"]), exchange=exchange) == [
        True,
        True,
    ]
    assert _drained(amqp_uri, queue) == [{"n": 0}, {"n": 1}]


def test_a_batch_needs_an_id_per_message(
    bound: tuple[Exchange, Queue], publisher: ConfirmingPublisher
) -> None:
    exchange, _ = bound
    same = [Outgoing({"n": n}, "taken.a", {}, {"message_id": "same"}) for n in range(2)]
    with pytest.raises(ValueError):
        publisher.publish_many(same, exchange=exchange)
