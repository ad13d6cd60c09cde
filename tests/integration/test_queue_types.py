"""An installation that ran with classic queues has them moved to quorum queues by
``manage.py broker move-queues`` (and ``migrate``): messages and all, bound as before, the
senders of events vouched for; never while a queue still has consumers.

The old installation is played in a virtual host of this module's own: its queues are
declared as the project declared them before (classic, durable, no arguments) and hold
events that no consumer took yet.
"""

from __future__ import annotations

import json
import os
import secrets
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from kombu import Connection, Exchange, Queue, binding
from nameko.standalone.events import get_event_exchange

from services.common.amqp import ConfirmingPublisher
from services.common.broker import (
    PARKED_QUEUE,
    RETRY_EXCHANGE,
    RPC_EXCHANGE,
    declare_exchanges,
    user_name,
)
from services.common.outbox import make_envelope
from services.common.queues import (
    DELIVERY_LIMIT,
    HANDLER_ARGUMENTS,
    MOVING_SUFFIX,
    SENDER_HEADER,
    moved_sender,
)
from tests.support import infra

ROOT = Path(__file__).resolve().parents[2]
QUEUE = "evt-orders-order_approved--commission.on_order_approved"
EVENTS = 40


def _ctl(*args: str) -> str:
    done = subprocess.run(
        ["rabbitmqctl", "-q", *args], capture_output=True, text=True, timeout=60, check=True
    )
    return done.stdout


def queue_types(vhost: str) -> dict[str, str]:
    listed = _ctl("list_queues", "-p", vhost, "name", "type", "--no-table-headers")
    return dict(line.split("\t")[:2] for line in listed.splitlines() if "\t" in line)


@pytest.fixture
def old_installation() -> Iterator[tuple[str, str]]:
    """A virtual host whose queues are classic, as the project declared them before."""
    vhost = f"prm-test-queues-{secrets.token_hex(4)}"
    _ctl("add_vhost", vhost)
    _ctl("set_permissions", "-p", vhost, "guest", ".*", ".*", ".*")
    uri = f"{infra.AMQP_BASE}/{vhost}"
    retry = Exchange(RETRY_EXCHANGE, type="topic", durable=True)
    old = [
        Queue(PARKED_QUEUE, exchange=retry, routing_key=PARKED_QUEUE, durable=True),
        Queue(
            "rpc-commission",
            exchange=Exchange(RPC_EXCHANGE, type="topic", durable=True),
            routing_key="commission.*",
            durable=True,
        ),
        Queue(
            QUEUE,
            bindings=[
                binding(get_event_exchange("orders", {}), routing_key="order_approved"),
                binding(retry, routing_key=QUEUE),
            ],
            durable=True,
        ),
    ]
    with Connection(uri) as connection:
        channel = connection.channel()
        declare_exchanges(channel)
        for queue in old:
            queue(channel).declare()
    try:
        yield vhost, uri
    finally:
        infra.delete_vhost(vhost)


def _publish_events(uri: str, count: int) -> list[str]:
    publisher = ConfirmingPublisher(uri)
    ids = []
    try:
        for n in range(count):
            event = make_envelope("orders", "order_approved", {"order_id": n + 1})
            publisher.publish(
                event, exchange=get_event_exchange("orders", {}), routing_key="order_approved"
            )
            ids.append(event["id"])
    finally:
        publisher.close()
    return ids


def _move(uri: str) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if not k.startswith("PRM_BROKER")}
    return subprocess.run(
        [sys.executable, "manage.py", "broker", "move-queues"],
        cwd=ROOT, env=env | {"AMQP_URI": uri}, capture_output=True, text=True, timeout=300,
    )  # fmt: skip


def _take_all(uri: str, name: str) -> list:
    with Connection(uri) as connection:
        channel = connection.channel()
        taken = []
        while (message := channel.basic_get(name, no_ack=True)) is not None:
            taken.append(message)
        return taken


def test_classic_queues_are_moved_to_quorum_queues_with_every_message(old_installation) -> None:
    vhost, uri = old_installation
    sent = _publish_events(uri, EVENTS)
    publisher = ConfirmingPublisher(uri)
    try:
        publisher.publish(
            {"id": "parked-1"},
            exchange=Exchange(RETRY_EXCHANGE, type="topic"),
            routing_key=PARKED_QUEUE,
            headers={"x-prm-queue": QUEUE},
        )
    finally:
        publisher.close()
    assert queue_types(vhost)[QUEUE] == "classic"

    moved = _move(uri)
    assert moved.returncode == 0, moved.stderr
    assert f"queue {QUEUE} moved to a quorum queue ({EVENTS} message(s))" in moved.stdout
    assert "queue prm.parked moved to a quorum queue (1 message(s))" in moved.stdout

    types = queue_types(vhost)
    assert not [name for name in types if name.endswith(".moving")], types
    assert types[QUEUE] == types[PARKED_QUEUE] == types["rpc-commission"] == "quorum"
    # Every queue of every service is declared, and as it must be.
    assert {name for name, kind in types.items() if kind != "quorum"} == set(), types
    assert (
        "rpc-partners" in types and "evt-orders-order_approved--notify.on_order_approved" in types
    )

    # Bound as before: an event published now reaches the moved queue too.
    later = _publish_events(uri, 1)
    messages = _take_all(uri, QUEUE)
    ids = [json.loads(message.body)["id"] for message in messages]
    assert sorted(ids) == sorted(sent + later)  # nothing lost, nothing twice
    moved_copies = [m for m in messages if json.loads(m.body)["id"] in sent]
    # Published again by the operator's login, vouching for the user that sent each one.
    assert {m.properties["user_id"] for m in moved_copies} == {"guest"}
    assert {m.headers[SENDER_HEADER] for m in moved_copies} == {"guest"}
    (parked,) = _take_all(uri, PARKED_QUEUE)
    assert json.loads(parked.body)["id"] == "parked-1"

    again = _move(uri)
    assert again.returncode == 0, again.stderr
    assert "0 moved" in again.stdout


def test_a_queue_with_consumers_is_not_moved(old_installation) -> None:
    vhost, uri = old_installation
    _publish_events(uri, 3)
    with Connection(uri) as connection:
        channel = connection.channel()
        channel.basic_consume(QUEUE, callback=lambda message: None)
        refused = _move(uri)
    assert refused.returncode != 0
    assert f"queue {QUEUE} has 1 consumer(s)" in refused.stderr
    assert queue_types(vhost)[QUEUE] == "classic"
    assert len(_take_all(uri, QUEUE)) == 3


def test_the_sender_of_a_moved_event_is_the_one_the_broker_checked() -> None:
    prefix = "prm-"
    orders, commission, notify = (user_name(n, prefix) for n in ("orders", "commission", "notify"))
    # Published by its source: that user.
    assert moved_sender(QUEUE, orders, {}, prefix, "operator") == orders
    # A retry copy the consumer sent itself: the sender it verified and recorded.
    assert moved_sender(QUEUE, commission, {SENDER_HEADER: orders}, prefix, "operator") == orders
    # Anyone else's header is not believed: its own user is the sender.
    assert moved_sender(QUEUE, notify, {SENDER_HEADER: orders}, prefix, "operator") == notify
    # The operator's own copy (moved before, or replayed) keeps what it vouched for.
    assert moved_sender(QUEUE, "operator", {SENDER_HEADER: orders}, prefix, "operator") == orders
    assert moved_sender(QUEUE, None, {SENDER_HEADER: orders}, prefix, "operator") is None


@pytest.fixture
def installation() -> Iterator[str]:
    """A virtual host set up as ``manage.py migrate`` sets one up."""
    vhost = f"prm-test-queues-{secrets.token_hex(4)}"
    uri = infra.create_vhost(vhost)
    try:
        moved = _move(uri)
        assert moved.returncode == 0, moved.stderr
        yield uri
    finally:
        infra.delete_vhost(vhost)


def _parked(uri: str, action: str) -> list[dict]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("PRM_BROKER")}
    done = subprocess.run(
        [sys.executable, "manage.py", "parked", action],
        cwd=ROOT, env=env | {"AMQP_URI": uri}, capture_output=True, text=True, timeout=60,
        check=True,
    )  # fmt: skip
    return [json.loads(line) for line in done.stdout.splitlines() if line.strip()]


def test_an_event_that_never_comes_back_settled_is_dead_lettered_into_parked(
    installation,
) -> None:
    uri = installation
    (event_id,) = _publish_events(uri, 1)
    # A consumer whose process dies on the event, again and again: the broker gets it back
    # unsettled each time (as a reject with requeue) and counts the deliveries.
    with Connection(uri) as connection:
        channel = connection.channel()
        for _ in range(DELIVERY_LIMIT + 1):
            message = channel.basic_get(QUEUE, no_ack=False)
            if message is None:
                break
            channel.basic_reject(message.delivery_tag, requeue=True)
    assert _take_all(uri, QUEUE) == []

    (shown,) = _parked(uri, "list")
    assert shown["queue"] == QUEUE
    assert shown["event"]["id"] == event_id
    assert (
        shown["error"] == f"delivered {DELIVERY_LIMIT} times and never settled (the delivery limit)"
    )
    assert shown["sent_by"] == shown["parked_by"] == "guest"

    # The operator sends it back to its queue, vouching for the user that published it.
    _parked(uri, "replay")
    (back,) = _take_all(uri, QUEUE)
    assert json.loads(back.body)["id"] == event_id
    assert back.headers[SENDER_HEADER] == "guest"
    assert "x-death" not in back.headers
    assert _take_all(uri, PARKED_QUEUE) == []


def test_a_move_cut_short_is_finished_by_the_next_run(old_installation) -> None:
    vhost, uri = old_installation
    sent = _publish_events(uri, 5)
    # The move stopped right after the old queue was deleted: its messages wait in the
    # temporary queue, which is still bound.
    temporary = Queue(
        QUEUE + MOVING_SUFFIX,
        bindings=[
            binding(get_event_exchange("orders", {}), routing_key="order_approved"),
            binding(Exchange(RETRY_EXCHANGE, type="topic", durable=True), routing_key=QUEUE),
        ],
        durable=True,
        queue_arguments=HANDLER_ARGUMENTS,
    )
    with Connection(uri) as connection:
        channel = connection.channel()
        temporary(channel).declare()
        while (message := channel.basic_get(QUEUE, no_ack=False)) is not None:
            channel.basic_publish(message, exchange="", routing_key=temporary.name)
            channel.basic_ack(message.delivery_tag)
        channel.queue_delete(QUEUE)

    finished = _move(uri)
    assert finished.returncode == 0, finished.stderr
    assert f"queue {QUEUE} moved to a quorum queue (5 message(s))" in finished.stdout
    types = queue_types(vhost)
    assert QUEUE + MOVING_SUFFIX not in types and types[QUEUE] == "quorum"
    later = _publish_events(uri, 1)  # bound once: one copy
    ids = [json.loads(message.body)["id"] for message in _take_all(uri, QUEUE)]
    assert sorted(ids) == sorted(sent + later)
