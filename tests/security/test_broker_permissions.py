"""The broker lets each process do its own work only, and an event says who sent it.

With one shared login, any process (or anyone holding that login) could bind a queue with
``#`` to ``nameko-rpc`` and read every call, or publish ``order_approved`` on
``orders.events`` and mint commission. Here the users of services/common/broker.py are
applied to a virtual host of the module's own (a prefix of its own, removed afterwards),
and each process's login is tried against what it must not do: the broker refuses with
ACCESS_REFUSED (403), never a silent drop. And a forged ``order_approved`` that the broker
lets through (sent by a login allowed to publish there, but not the orders service's) is
parked by commission with the reason, and no commission is written.
"""

# The fixtures come from tests.support.commission_service; pytest passes them by name.
# ruff: noqa: F811

from __future__ import annotations

import json
import os
import secrets
import subprocess
import sys
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from amqp import Message
from amqp.exceptions import AMQPError
from kombu import Connection, Exchange
from nameko.testing.services import replace_dependencies
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from services.commission.models import CommissionEntry
from services.commission.service import CommissionService
from services.common import broker
from services.common.amqp import ConfirmingPublisher
from services.common.broker import parked_queue
from services.common.config import with_login
from services.common.entrypoints import event_queues
from services.common.models import ProcessedEvent
from services.common.queues import RPC_ARGUMENTS
from services.common.registry import SERVICES
from tests.support import infra
from tests.support.commission_service import (  # noqa: F401 - fixtures
    Orders,
    database_url,
    engine,
    new_id,
    partners,
)
from tests.support.waiting import wait_for

ACCESS_REFUSED = 403
ROOT = Path(__file__).resolve().parents[2]


@dataclass
class Users:
    admin_uri: str
    vhost: str
    prefix: str
    passwords: dict[str, str]

    def uri(self, process: str) -> str:
        return with_login(self.admin_uri, self.user(process), self.passwords[process])

    def user(self, process: str) -> str:
        return broker.user_name(process, self.prefix)

    def connect(self, process: str) -> Connection:
        connection = Connection(self.uri(process), connect_timeout=5)
        connection.ensure_connection(max_retries=1)
        return connection


@pytest.fixture(scope="module")
def users() -> Iterator[Users]:
    """The table applied on a vhost of the module's own, for a prefix of its own; the
    queues declared as ``manage.py migrate`` and the services declare them."""
    token = secrets.token_hex(4)
    vhost = f"prm-test-broker-{token}"
    admin_uri = infra.create_vhost(vhost)
    made = Users(
        admin_uri,
        vhost,
        f"prm-t{token}-",
        {name: secrets.token_urlsafe(24) for name in broker.process_names()},
    )
    try:
        broker.apply(broker.definitions(made.passwords, vhost, made.prefix), admin_uri)
        with Connection(admin_uri) as connection:
            channel = connection.channel()
            parked_queue()(channel).declare()
            for name in SERVICES:
                broker.rpc_queue(name)(channel).declare()
                cls = broker._service_class(name)
                for queue in event_queues(cls, {"AMQP_URI": admin_uri}):
                    queue(channel).declare()
        yield made
    finally:
        broker.remove_users([made.user(name) for name in made.passwords], admin_uri)
        infra.delete_vhost(vhost)


def refused(action: Callable[[], object]) -> AMQPError:
    """``action`` fails with ACCESS_REFUSED (a channel or connection error)."""
    with pytest.raises(AMQPError) as caught:
        action()
    assert caught.value.reply_code == ACCESS_REFUSED, caught.value
    assert "ACCESS_REFUSED" in str(caught.value)
    return caught.value


def reply_queue(process: str) -> str:
    return f"rpc.reply-{process}-{uuid.uuid4()}"


def own_reply_queue(channel, process: str) -> str:
    """A reply queue the process may declare (as its RPC client does)."""
    name = reply_queue(process)
    channel.queue_declare(name, auto_delete=True)
    return name


def publish(channel, exchange: str, routing_key: str, **properties) -> None:
    """Publish and wait for the broker's confirm (a refusal closes the channel)."""
    channel.basic_publish_confirm(
        Message(b"{}", content_type="application/json", **properties),
        exchange=exchange,
        routing_key=routing_key,
    )


# -- what each login may not do ------------------------------------------------------------


@pytest.mark.parametrize("process", [*SERVICES, "gateway"])
def test_no_login_may_bind_to_every_call(users, process) -> None:
    with users.connect(process) as connection:
        channel = connection.channel()
        queue = own_reply_queue(channel, process)
        error = refused(lambda: channel.queue_bind(queue, broker.RPC_EXCHANGE, "#"))
        assert "routing key '#'" in str(error) or "topic" in str(error)
    with users.connect(process) as connection:
        channel = connection.channel()
        queue = own_reply_queue(channel, process)
        refused(lambda: channel.queue_bind(queue, broker.RPC_EXCHANGE, "*.*"))


@pytest.mark.parametrize("process", ["partners", "notify", "commission", "gateway"])
def test_no_login_may_listen_to_another_service_s_calls(users, process) -> None:
    with users.connect(process) as connection:
        channel = connection.channel()
        queue = own_reply_queue(channel, process)
        refused(lambda: channel.queue_bind(queue, broker.RPC_EXCHANGE, "orders.*"))
    with users.connect(process) as connection:
        channel = connection.channel()
        queue = own_reply_queue(channel, process)
        refused(lambda: channel.queue_bind(queue, broker.RPC_EXCHANGE, "orders.approve_order"))


@pytest.mark.parametrize(
    ("process", "queue"),
    [
        ("partners", "rpc-orders"),
        ("gateway", "rpc-orders"),
        ("notify", "rpc-partners"),
        ("notify", "evt-orders-order_approved--commission.on_order_approved"),
        ("filing", "evt-orders-order_approved--commission.on_order_approved"),
        ("gateway", "evt-orders-order_approved--filing.on_order_approved"),
        ("orders", "prm.parked"),
    ],
)
def test_no_login_may_consume_another_s_queue(users, process, queue) -> None:
    with users.connect(process) as connection:
        channel = connection.channel()
        refused(lambda: channel.basic_consume(queue, callback=lambda message: None))


@pytest.mark.parametrize(
    ("process", "exchange", "event"),
    [
        ("partners", "orders.events", "order_approved"),  # consumes nothing of orders
        ("gateway", "orders.events", "order_approved"),
        ("notify", "orders.events", "order_cancelled"),  # consumes other kinds of orders
        ("notify", "orders.events", "#"),
        ("filing", "commission.events", "commission_entry_created"),
    ],
)
def test_no_login_may_bind_to_events_it_does_not_consume(users, process, exchange, event) -> None:
    with users.connect(process) as connection:
        channel = connection.channel()
        queue = own_reply_queue(channel, process)
        refused(lambda: channel.queue_bind(queue, exchange, event))


@pytest.mark.parametrize("process", ["partners", "filing", "commission", "notify", "gateway"])
def test_no_login_but_orders_may_publish_orders_events(users, process) -> None:
    with users.connect(process) as connection:
        channel = connection.channel()
        refused(lambda: publish(channel, "orders.events", "order_approved"))


@pytest.mark.parametrize("process", ["partners", "commission", "gateway"])
def test_no_login_may_put_a_message_into_a_queue_directly(users, process) -> None:
    # The default exchange reaches every queue by its name; no process may write to it.
    queue = "evt-orders-order_approved--commission.on_order_approved"
    with users.connect(process) as connection:
        channel = connection.channel()
        refused(lambda: publish(channel, "", queue))


@pytest.mark.parametrize("process", ["filing", "commission", "notify"])
def test_no_service_may_send_back_to_another_s_handler_queue(users, process) -> None:
    queue = "evt-orders-order_approved--commission.on_order_approved"
    if process == "commission":
        queue = "evt-orders-order_approved--filing.on_order_approved"
    with users.connect(process) as connection:
        channel = connection.channel()
        refused(lambda: publish(channel, broker.RETRY_EXCHANGE, queue))


@pytest.mark.parametrize("process", ["partners", "gateway"])
def test_no_login_may_call_what_it_does_not_call(users, process) -> None:
    target = "orders.approve_order" if process == "partners" else "audit.anything"
    with users.connect(process) as connection:
        channel = connection.channel()
        refused(lambda: publish(channel, broker.RPC_EXCHANGE, target, reply_to=str(uuid.uuid4())))


def test_no_login_may_publish_as_another_user(users) -> None:
    with users.connect("orders") as connection:
        channel = connection.channel()
        with pytest.raises(AMQPError) as caught:
            publish(channel, "orders.events", "order_approved", user_id=users.user("commission"))
    # RabbitMQ answers a user_id that is not the connection's with PRECONDITION_FAILED
    # (406), closing the channel: refused, never delivered.
    assert caught.value.reply_code in (ACCESS_REFUSED, 406), caught.value
    assert "user_id" in str(caught.value)


CONSUMERS = [name for name in SERVICES if broker.roles()[name].consumes]


@pytest.mark.parametrize("process", [*CONSUMERS, "gateway"])
def test_no_login_may_bind_a_queue_to_the_parked_events(users, process) -> None:
    # Bound to prm.retry with the key prm.parked, a queue of its own would get a copy of
    # every event any service parks: parked events are the operator's alone.
    with users.connect(process) as connection:
        channel = connection.channel()
        if process == "gateway":
            queue = own_reply_queue(channel, process)
        else:
            queue = broker.roles()[process].consumes[0].queue
        refused(lambda: channel.queue_bind(queue, broker.RETRY_EXCHANGE, broker.PARKED_QUEUE))


def _another_s_events(process: str) -> str:
    return broker.events_exchange("partners" if process == "orders" else "orders")


@pytest.mark.parametrize("process", [*SERVICES, "gateway"])
@pytest.mark.parametrize("exchange", ["nameko-rpc", "another's events", "prm.retry"])
def test_no_login_may_delete_a_shared_exchange(users, process, exchange) -> None:
    # The exchanges are declared by manage.py migrate (the operator); a process only
    # refers to them, and may neither declare nor delete one.
    name = _another_s_events(process) if exchange == "another's events" else exchange
    with users.connect(process) as connection:
        channel = connection.channel()
        refused(lambda: channel.exchange_delete(name))
    with users.connect(process) as connection:
        channel = connection.channel()
        refused(lambda: channel.exchange_declare(name, "topic", durable=True))
    with users.connect(process) as connection:
        # Referring to it (a passive declare) is all a process does, and may do.
        connection.channel().exchange_declare(name, "topic", durable=True, passive=True)


@pytest.mark.parametrize("process", [*SERVICES, "gateway"])
def test_no_login_may_delete_or_empty_the_parked_queue(users, process) -> None:
    with users.connect(process) as connection:
        channel = connection.channel()
        refused(lambda: channel.queue_delete(broker.PARKED_QUEUE))
    with users.connect(process) as connection:
        channel = connection.channel()
        refused(lambda: channel.queue_purge(broker.PARKED_QUEUE))


# -- what each login does -------------------------------------------------------------------


def test_a_service_serves_its_own_calls_and_the_gateway_gets_the_reply(users) -> None:
    with users.connect("partners") as server, users.connect("gateway") as client:
        server_channel = server.channel()
        server_channel.queue_declare(
            "rpc-partners", durable=True, auto_delete=False, arguments=RPC_ARGUMENTS
        )
        server_channel.queue_bind("rpc-partners", broker.RPC_EXCHANGE, "partners.*")
        client_channel = client.channel()
        reply_to = own_reply_queue(client_channel, "gateway")
        client_channel.queue_bind(reply_to, broker.RPC_EXCHANGE, reply_to)
        publish(client_channel, broker.RPC_EXCHANGE, "partners.ping", reply_to=reply_to)
        request = _get(server_channel, "rpc-partners")
        assert request.properties["reply_to"] == reply_to
        publish(server_channel, broker.RPC_EXCHANGE, reply_to, user_id=users.user("partners"))
        reply = _get(client_channel, reply_to)
        assert reply.properties["user_id"] == users.user("partners")


def test_a_nameko_client_gets_its_reply_by_its_uuid(users) -> None:
    # filing calls partners as Nameko does: its reply queue bound by a bare uuid.
    with users.connect("filing") as client, users.connect("partners") as server:
        client_channel = client.channel()
        key = str(uuid.uuid4())
        queue = f"rpc.reply-filing-{key}"
        client_channel.queue_declare(queue, auto_delete=True)
        client_channel.queue_bind(queue, broker.RPC_EXCHANGE, key)
        publish(client_channel, broker.RPC_EXCHANGE, "partners.partners_covering", reply_to=key)
        server_channel = server.channel()
        assert _get(server_channel, "rpc-partners").properties["reply_to"] == key
        publish(server_channel, broker.RPC_EXCHANGE, key)
        assert _get(client_channel, queue) is not None


def test_a_service_publishes_its_events_signed_with_its_user(users) -> None:
    publisher = ConfirmingPublisher(users.uri("orders"))
    try:
        publisher.publish(
            {"id": "x"},
            exchange=Exchange("orders.events", type="topic", durable=True),
            routing_key="order_cancelled",
        )
    finally:
        publisher.close()
    with users.connect("commission") as connection:
        channel = connection.channel()
        message = _get(channel, "evt-orders-order_cancelled--commission.on_order_cancelled")
        assert message.properties["user_id"] == users.user("orders")


def _get(channel, queue: str, timeout: float = 10.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        message = channel.basic_get(queue, no_ack=True)
        if message is not None:
            return message
        time.sleep(0.05)
    raise AssertionError(f"nothing came to {queue}")


# -- a forged order_approved ----------------------------------------------------------------


@pytest.fixture
def start_commission(users, engine, container_factory, partners):
    """Starts the commission service connected as its own user, expecting orders' events
    from the orders user, with ``operator`` as the login whose replays it believes."""

    def start(operator: str | None = None):
        config = {
            "AMQP_URI": users.uri("commission"),
            "DATABASE_URL": _database_url_of(engine),
            "max_workers": 4,
            "serializer": "json",
            "EVENT_MAX_ATTEMPTS": 2,
            "EVENT_RETRY_DELAY": 0.05,
            "OUTBOX_INTERVAL": 0.1,
            "BROKER_USER_PREFIX": users.prefix,
            "BROKER_OPERATOR_USER": operator,
        }
        container = container_factory(CommissionService, config)
        fake = replace_dependencies(container, "partners")
        fake.get_partner.side_effect = partners.get_partner
        fake.list_partner_types.side_effect = partners.list_partner_types
        container.start()
        return container

    return start


@pytest.fixture
def commission(start_commission):
    return start_commission()


def _database_url_of(engine) -> str:
    return engine.url.render_as_string(hide_password=False)


def _entries(engine, order_id: int) -> int:
    with Session(engine) as session:
        return session.scalar(
            select(func.count())
            .select_from(CommissionEntry)
            .where(CommissionEntry.order_id == order_id)
        )


def _applied(engine, event_id: str) -> bool:
    with Session(engine) as session:
        found = session.scalar(
            select(ProcessedEvent.event_id).where(ProcessedEvent.event_id == event_id)
        )
    return found is not None


def _send_as(uri: str, envelope: dict) -> None:
    publisher = ConfirmingPublisher(uri)
    try:
        publisher.publish(
            envelope,
            exchange=Exchange("orders.events", type="topic", durable=True),
            routing_key=envelope["type"],
        )
    finally:
        publisher.close()


def test_a_forged_order_approval_mints_no_commission_and_is_parked(
    users, commission, engine, partners
) -> None:
    orders = Orders(engine, {"AMQP_URI": users.admin_uri})
    partner_id = partners.add()
    forged = orders.approved(partner_id, total_amount="5000000.00")
    order_id = forged["data"]["order_id"]

    # The gateway's login may not publish there at all.
    with pytest.raises(ConnectionError, match="ACCESS_REFUSED"):
        _send_as(users.uri("gateway"), forged)
    # A login that may (here the broker's administrator) is not the orders service: the
    # event says so, and commission parks it without writing anything.
    _send_as(users.admin_uri, forged)
    parked = infra.parked_message(users.admin_uri, forged["id"])
    assert "sender refused" in parked.headers["x-prm-last-error"]
    assert users.user("orders") in parked.headers["x-prm-last-error"]
    assert parked.headers["x-prm-user-id"] == "guest"
    assert "x-prm-sender" not in parked.headers
    assert _entries(engine, order_id) == 0
    assert not _applied(engine, forged["id"])

    # The same event from the orders service's own login is applied (so the refusal above
    # was about the sender, not the event).
    real = orders.approved(partner_id, total_amount="12000.00")
    _send_as(users.uri("orders"), real)
    wait_for(lambda: _entries(engine, real["data"]["order_id"]) == 1)
    assert _entries(engine, order_id) == 0


def test_a_forged_event_naming_a_sender_in_its_headers_is_still_parked(
    users, commission, engine, partners
) -> None:
    orders = Orders(engine, {"AMQP_URI": users.admin_uri})
    forged = orders.approved(partners.add(), total_amount="5000000.00")
    with Connection(users.admin_uri) as connection:
        connection.Producer().publish(
            forged,
            exchange=Exchange("orders.events", type="topic", durable=True),
            routing_key="order_approved",
            headers={"x-prm-sender": users.user("orders")},
            serializer="json",
        )
    parked = infra.parked_message(users.admin_uri, forged["id"])
    assert "sender refused" in parked.headers["x-prm-last-error"]
    assert "x-prm-sender" not in parked.headers
    assert _entries(engine, forged["data"]["order_id"]) == 0


def _replay(users: Users) -> subprocess.CompletedProcess:
    """``manage.py parked replay`` as the operator (the vhost's administrator, guest)."""
    env = os.environ | {"AMQP_URI": users.admin_uri, "PRM_BROKER_USER_PREFIX": users.prefix}
    return subprocess.run(
        [sys.executable, "manage.py", "parked", "replay"],
        cwd=ROOT, env=env, capture_output=True, text=True, timeout=60, check=True,
    )  # fmt: skip


def test_replay_keeps_the_sender_commission_verified_and_no_other(
    users, start_commission, engine, partners
) -> None:
    start_commission(operator="guest")
    # What earlier tests of the module left parked would count among the three below, and
    # the replay could run before the real approval is parked.
    _purge_parked(users)
    orders = Orders(engine, {"AMQP_URI": users.admin_uri})
    # A real approval that fails (its partner is not known yet) is parked by commission,
    # which records the sender it verified; a forged one is parked with none.
    unknown = new_id()
    real = orders.approved(unknown, total_amount="12000.00")
    _send_as(users.uri("orders"), real)
    forged = orders.approved(partners.add(), total_amount="5000000.00")
    _send_as(users.admin_uri, forged)
    # And another service parks a forgery of its own that claims orders as its sender, for
    # commission's queue: the replay must not believe a sender commission did not record.
    planted = orders.approved(partners.add(), total_amount="5000000.00")
    publisher = ConfirmingPublisher(users.uri("notify"))
    try:
        publisher.publish(
            planted,
            exchange=Exchange(broker.RETRY_EXCHANGE, type="topic", durable=True),
            routing_key=broker.PARKED_QUEUE,
            headers={
                "x-prm-queue": "evt-orders-order_approved--commission.on_order_approved",
                "x-prm-sender": users.user("orders"),
            },
        )
    finally:
        publisher.close()
    wait_for(lambda: _parked_count(users) >= 3, what="the events parked")

    partners.partners[unknown] = partners.partners[partners.add()] | {
        "id": unknown,
        "code": f"P{unknown}",
    }
    listed = _replay(users)
    assert "sender refused" in listed.stdout
    # The operator's replay keeps orders' verified sender: commission applies it ...
    try:
        wait_for(lambda: _entries(engine, real["data"]["order_id"]) == 1, what="replayed entry")
    except AssertionError as exc:
        raise AssertionError(f"{exc}; {_queues_state(users)}; replay printed {listed}") from exc
    # ... while the forged one, replayed too, is parked again and writes nothing.
    parked = _parked(users, forged["id"], planted["id"])
    for event in (forged, planted):
        assert "sender refused" in parked[event["id"]].headers["x-prm-last-error"]
        assert _entries(engine, event["data"]["order_id"]) == 0


def test_a_service_may_not_launder_a_forgery_through_a_replay_without_a_prefix(
    users, start_commission, engine, partners
) -> None:
    # notify puts a forged order_approved for commission into prm.parked, naming orders as
    # its sender in the headers; the operator replays from a shell without
    # PRM_BROKER_USER_PREFIX. Only the message's user_id (notify's, which the broker
    # checked) counts: the sender is not restored, and commission parks it again.
    start_commission(operator="guest")
    orders = Orders(engine, {"AMQP_URI": users.admin_uri})
    planted = orders.approved(partners.add(), total_amount="5000000.00")
    queue = "evt-orders-order_approved--commission.on_order_approved"
    publisher = ConfirmingPublisher(users.uri("notify"))
    try:
        publisher.publish(
            planted,
            exchange=Exchange(broker.RETRY_EXCHANGE, type="topic", durable=True),
            routing_key=broker.PARKED_QUEUE,
            headers={
                "x-prm-queue": queue,
                "x-prm-sender": users.user("orders"),
                "x-prm-user-id": users.user("orders"),
            },
        )
    finally:
        publisher.close()
    env = {k: v for k, v in os.environ.items() if not k.startswith("PRM_BROKER")}
    listed = subprocess.run(
        [sys.executable, "manage.py", "parked", "replay", "--queue", queue],
        cwd=ROOT, env=env | {"AMQP_URI": users.admin_uri},
        capture_output=True, text=True, timeout=60, check=True,
    )  # fmt: skip
    shown = [json.loads(line) for line in listed.stdout.splitlines() if line.strip()]
    (mine,) = [m for m in shown if (m["event"] or {}).get("id") == planted["id"]]
    assert mine["sent_by"] == mine["parked_by"] == users.user("notify")
    parked = _parked(users, planted["id"])
    assert "sender refused" in parked[planted["id"]].headers["x-prm-last-error"]
    assert _entries(engine, planted["data"]["order_id"]) == 0


def test_replay_believes_only_the_consumer_s_own_user_never_a_header() -> None:
    queue = "evt-orders-order_approved--commission.on_order_approved"
    # The operator's shell without a prefix: the default, prm-.
    assert broker.parked_by_its_consumer(queue, "prm-commission", None)
    assert not broker.parked_by_its_consumer(queue, "prm-notify", None)
    assert not broker.parked_by_its_consumer(queue, "guest", None)
    assert not broker.parked_by_its_consumer(queue, None, None)
    assert broker.parked_by_its_consumer(queue, "x-commission", "x-")
    assert not broker.parked_by_its_consumer(queue, "prm-commission", "x-")
    assert not broker.parked_by_its_consumer("prm.parked", "prm-commission", None)


def _parked(users: Users, *event_ids: str, timeout: float = 15.0) -> dict:
    """The parked messages of ``event_ids`` (taken out of the queue, as are the others
    read on the way), by event id."""
    found: dict = {}
    deadline = time.monotonic() + timeout
    with Connection(users.admin_uri) as connection:
        queue = broker.parked_queue()(connection.channel())
        while set(event_ids) - set(found):
            message = queue.get(no_ack=True)
            if message is None:
                assert time.monotonic() < deadline, f"not parked: {set(event_ids) - set(found)}"
                time.sleep(0.1)
                continue
            found[message.payload.get("id")] = message
    return found


def _purge_parked(users: Users) -> None:
    with Connection(users.admin_uri) as connection:
        connection.channel().queue_purge(broker.PARKED_QUEUE)


def _queues_state(users: Users) -> str:
    """Where the commission handler's messages are, for a failure's message."""
    with Connection(users.admin_uri) as connection:
        channel = connection.channel()
        return ", ".join(
            f"{name}: {count} ready, {consumers} consumer(s)"
            for name, count, consumers in (
                channel.queue_declare(queue, passive=True)
                for queue in (
                    "evt-orders-order_approved--commission.on_order_approved",
                    broker.PARKED_QUEUE,
                )
            )
        )


def _parked_count(users: Users) -> int:
    with Connection(users.admin_uri) as connection:
        _, count, _ = connection.channel().queue_declare("prm.parked", passive=True)
    return count
