"""Moving ``prm.parked`` (classic to quorum) launders nothing: a replay afterwards believes
exactly what it would have believed before the move.

The move publishes every parked message again under the operator's login. Before the
fix it kept their headers and nothing else, so a service could park an event with a
forged ``x-death`` (a broker dead-letter) naming another service's queue and that
service's sender, and after the move the replay vouched for the forged sender (the copy
now came from the operator): notify could have made commission pay. A genuinely parked
event, on the other hand, lost the sender its consumer had verified and could never be
replayed.
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
from kombu import Connection, Exchange, Queue
from nameko.standalone.events import get_event_exchange

from services.common import broker
from services.common.amqp import ConfirmingPublisher
from services.common.config import with_login
from services.common.entrypoints import event_queues
from services.common.outbox import make_envelope
from services.common.queues import SENDER_HEADER
from tests.support import infra

ROOT = Path(__file__).resolve().parents[2]
QUEUE = "evt-orders-order_approved--commission.on_order_approved"


def _ctl(*args: str) -> None:
    subprocess.run(["rabbitmqctl", "-q", *args], capture_output=True, timeout=60, check=True)


@pytest.fixture
def installation() -> Iterator[dict]:
    """An installation of the previous release: one broker user per process, the handler
    queues and ``prm.parked`` classic."""
    token = secrets.token_hex(4)
    vhost, prefix = f"prm-test-parked-move-{token}", f"prm-m{token}-"
    _ctl("add_vhost", vhost)
    _ctl("set_permissions", "-p", vhost, "guest", ".*", ".*", ".*")
    admin = f"{infra.AMQP_BASE}/{vhost}"
    passwords = {name: secrets.token_urlsafe(24) for name in broker.process_names()}
    broker.apply(broker.definitions(passwords, vhost, prefix), admin)
    retry = Exchange(broker.RETRY_EXCHANGE, type="topic", durable=True)
    with Connection(admin) as connection:
        channel = connection.channel()
        broker.declare_exchanges(channel)
        Queue(broker.PARKED_QUEUE, exchange=retry, routing_key=broker.PARKED_QUEUE, durable=True)(
            channel
        ).declare()
        for queue in event_queues(broker._service_class("commission"), {}):
            Queue(queue.name, bindings=list(queue.bindings), durable=True)(channel).declare()
    env = {k: v for k, v in os.environ.items() if not k.startswith("PRM_BROKER")}
    try:
        yield {
            "admin": admin,
            "prefix": prefix,
            "uri": lambda name: with_login(admin, broker.user_name(name, prefix), passwords[name]),
            "env": env | {"AMQP_URI": admin, "PRM_BROKER_USER_PREFIX": prefix},
        }
    finally:
        broker.remove_users([broker.user_name(n, prefix) for n in passwords], admin)
        infra.delete_vhost(vhost)


def _manage(installation: dict, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "manage.py", *args],
        cwd=ROOT, env=installation["env"], capture_output=True, text=True, timeout=300,
        check=True,
    )  # fmt: skip


def _park(installation: dict, process: str, event: dict, headers: dict) -> None:
    publisher = ConfirmingPublisher(installation["uri"](process))
    try:
        publisher.publish(
            event,
            exchange=Exchange(broker.RETRY_EXCHANGE, type="topic", durable=True),
            routing_key=broker.PARKED_QUEUE,
            headers=headers,
        )
    finally:
        publisher.close()


def test_a_parked_queue_moved_keeps_who_parked_what(installation) -> None:
    user = {n: broker.user_name(n, installation["prefix"]) for n in broker.process_names()}
    # notify forges a broker dead-letter of an order_approved for commission's queue.
    forged = make_envelope("orders", "order_approved", {"order_id": 1, "marker": "forged"})
    _park(
        installation,
        "notify",
        forged,
        {"x-death": [{"queue": QUEUE, "reason": "delivery_limit"}], SENDER_HEADER: user["orders"]},
    )
    # commission parked a real one of orders' after its tries, as its handler does.
    real = make_envelope("orders", "order_approved", {"order_id": 2, "marker": "real"})
    _park(
        installation,
        "commission",
        real,
        {"x-prm-queue": QUEUE, SENDER_HEADER: user["orders"], "x-prm-user-id": user["orders"]},
    )

    moved = _manage(installation, "broker", "move-queues")
    assert "queue prm.parked moved to a quorum queue (2 message(s))" in moved.stdout

    listed = _manage(installation, "parked", "replay")
    shown = {
        json.loads(line)["event"]["id"]: json.loads(line) for line in listed.stdout.splitlines()
    }
    assert shown[forged["id"]]["parked_by"] == user["notify"]
    assert shown[forged["id"]]["sent_by"] == user["notify"]
    assert shown[real["id"]]["parked_by"] == user["commission"]
    assert shown[real["id"]]["sent_by"] == user["orders"]

    # Back in commission's queue: the real one with orders as its sender (its handler takes
    # it), the forged one with notify's (its handler refuses it).
    senders = {}
    with Connection(installation["admin"]) as connection:
        channel = connection.channel()
        while (message := channel.basic_get(QUEUE, no_ack=True)) is not None:
            senders[json.loads(message.body)["id"]] = message.headers.get(SENDER_HEADER)
    assert senders == {forged["id"]: user["notify"], real["id"]: user["orders"]}


def test_a_queue_is_not_moved_by_a_login_whose_copies_nobody_accepts(installation) -> None:
    env = installation["env"] | {"PRM_BROKER_OPERATOR_USER": "prm-operator"}
    publisher = ConfirmingPublisher(installation["uri"]("orders"))
    try:
        publisher.publish(
            make_envelope("orders", "order_approved", {"order_id": 3}),
            exchange=get_event_exchange("orders", {}),
            routing_key="order_approved",
        )
    finally:
        publisher.close()
    refused = subprocess.run(
        [sys.executable, "manage.py", "broker", "move-queues"],
        cwd=ROOT, env=env, capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    assert refused.returncode != 0
    assert "PRM_BROKER_OPERATOR_USER is prm-operator" in refused.stderr
    assert "Traceback" not in refused.stderr
