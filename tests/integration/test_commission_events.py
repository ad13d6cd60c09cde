"""Commission with real RabbitMQ and PostgreSQL, beside a real partners service: events
from orders (published as its outbox relay does) and from partners flow in, commission's
own events flow out. Nothing is lost while the service is down, nothing is applied twice.

Everything runs in a vhost of this module's own, so that no other process of the test run
(the e2e stack) consumes these events or answers these calls.
"""

from __future__ import annotations

import secrets
import time
from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path

import pytest
from kombu import Connection, Queue, binding
from nameko.standalone.events import get_event_exchange
from sqlalchemy import select
from sqlalchemy.orm import Session

from gateway.rpc import RpcClient
from services.commission import seed as commission_seed
from services.commission.models import CommissionEntry, PartnerCopy
from services.commission.service import CommissionService
from services.common.broker import parked_queue
from services.common.context import Caller
from services.common.db import make_engine
from services.common.entrypoints import event_queues, handler_queue_name
from services.common.migrations import upgrade
from services.common.models import OutboxEvent
from services.common.outbox import make_envelope
from services.partners import seed as partners_seed
from services.partners.service import PartnersService
from tests.support import infra
from tests.support.client import unique
from tests.support.events import publish
from tests.support.waiting import wait_for

ROOT = Path(__file__).resolve().parents[2]
HQ = Caller(user_id=1, permissions=frozenset({"partner.manage", "commission.manage"}))


def hq() -> Caller:
    """The HQ caller (the client signs it for each call)."""
    return HQ


def new_id() -> int:
    return 100_000_000 + secrets.randbelow(2_000_000_000)


@pytest.fixture(scope="module")
def engines():
    """Databases of the module's own, too: the e2e stack's partners and commission services
    work on the run's databases, and their outbox relays would send this module's events to
    the stack's vhost, where nothing of this module hears them."""
    engines, databases = {}, []
    for name, seed in (("partners", partners_seed), ("commission", commission_seed)):
        database = f"prm_test_commission_int_{name}_{secrets.token_hex(4)}"
        url = infra.create_database(database)
        databases.append(database)
        upgrade(name, ROOT / "services" / name / "migrations", url)
        engines[name] = make_engine(url)
        with Session(engines[name]) as session:
            if name == "partners":
                seed.ensure_reference_data(session)
            else:
                seed.bootstrap(session)
            session.commit()
    yield engines
    for engine in engines.values():
        engine.dispose()
    for database in databases:
        infra.drop_database(database)


def database_url(engines: dict, name: str) -> str:
    return engines[name].url.render_as_string(hide_password=False)


@pytest.fixture(scope="module")
def vhost_uri() -> Iterator[str]:
    name = f"prm-test-commission-int-{secrets.token_hex(4)}"
    uri = infra.create_vhost(name)
    yield uri
    infra.delete_vhost(name)


@pytest.fixture
def config(vhost_uri: str, engines) -> dict:
    return {
        "AMQP_URI": vhost_uri,
        "DATABASE_URL": database_url(engines, "commission"),
        "max_workers": 10,
        "serializer": "json",
        "EVENT_MAX_ATTEMPTS": 3,
        "EVENT_RETRY_DELAY": 0.05,
        "OUTBOX_INTERVAL": 0.1,
    }


@pytest.fixture
def queues(config: dict) -> None:
    """Commission's queues exist before anything is published, as ``manage.py migrate``
    makes sure in a deployment."""
    with Connection(config["AMQP_URI"]) as connection:
        channel = connection.channel()
        for queue in event_queues(CommissionService, config):
            queue(channel).declare()
        parked_queue()(channel).declare()


@pytest.fixture
def client(vhost_uri: str) -> Iterator[RpcClient]:
    client = RpcClient(vhost_uri, timeout=15)
    yield client
    client.close()


@pytest.fixture
def partners_service(engines, config, queues, container_factory):
    container = container_factory(
        PartnersService, config | {"DATABASE_URL": database_url(engines, "partners")}
    )
    container.start()
    return container


def create_partner(client: RpcClient, type_: str = "city_partner") -> dict:
    return client.call(
        "partners",
        "create_partner",
        {"code": unique("CM"), "name": "提成测试伙伴", "type": type_, "territory": ["330100"]},
        caller=hq(),
    )


def approved(partner_id: int, total: str = "1000.00", at: str = "2026-11-20T02:00:00Z") -> dict:
    order_id = new_id()
    return make_envelope(
        "orders",
        "order_approved",
        {
            "order_id": order_id,
            "partner_id": partner_id,
            "customer_id": new_id(),
            "customer_name": "宁波某某贸易有限公司",
            "contract_no": f"HT-{order_id}",
            "region_code": "330106",
            "province": "330000",
            "city": "330100",
            "customer_source": "partner",
            "total_amount": total,
            "lines": [],
            "approved_at": at,
        },
    )


def entries_of_partner(engine, partner_id: int) -> list[CommissionEntry]:
    with Session(engine) as session:
        return list(
            session.scalars(select(CommissionEntry).where(CommissionEntry.partner_id == partner_id))
        )


def queue_depth(config: dict, method: str) -> int:
    name = handler_queue_name("orders", method.removeprefix("on_"), "commission", method)
    with Connection(config["AMQP_URI"]) as connection:
        return connection.channel().queue_declare(name, passive=True).message_count


def sent(engine, event_type: str, key: str, value: object) -> bool:
    with Session(engine) as session:
        return any(
            row.status == "sent" and row.payload["data"].get(key) == value
            for row in session.scalars(
                select(OutboxEvent).where(OutboxEvent.event_type == event_type)
            )
        )


def test_fifty_orders_approved_while_commission_is_down_give_fifty_entries_once_it_is_back(
    engines, config, queues, client, partners_service, container_factory
) -> None:
    partner = create_partner(client)
    events = [approved(partner["id"], total=f"{1000 + i}.00") for i in range(50)]
    for event in events:  # commission is not running: the events wait in its queue
        publish(amqp_uri=config["AMQP_URI"], envelope=event)
    for event in events[:10]:  # and some are delivered twice
        publish(amqp_uri=config["AMQP_URI"], envelope=event)
    assert queue_depth(config, "on_order_approved") == 60
    assert entries_of_partner(engines["commission"], partner["id"]) == []

    container_factory(CommissionService, config).start()
    wait_for(lambda: len(entries_of_partner(engines["commission"], partner["id"])) >= 50)
    wait_for(lambda: queue_depth(config, "on_order_approved") == 0)
    time.sleep(0.5)  # let the last redelivery finish its transaction

    entries = entries_of_partner(engines["commission"], partner["id"])
    assert len(entries) == 50
    assert sorted(e.order_id for e in entries) == sorted(e["data"]["order_id"] for e in events)
    assert sum(e.amount for e in entries) == Decimal("0.10") * sum(
        Decimal(e["data"]["total_amount"]) for e in events
    )


def test_commission_stopped_mid_stream_loses_and_doubles_nothing(
    engines, config, queues, client, partners_service, container_factory
) -> None:
    partner = create_partner(client)
    first = container_factory(CommissionService, config)
    first.start()
    events = [approved(partner["id"]) for _ in range(30)]
    for event in events[:15]:
        publish(amqp_uri=config["AMQP_URI"], envelope=event)
    first.stop()  # graceful: in-flight workers finish, unacknowledged messages go back
    for event in events[15:]:
        publish(amqp_uri=config["AMQP_URI"], envelope=event)
    container_factory(CommissionService, config).start()
    wait_for(lambda: len(entries_of_partner(engines["commission"], partner["id"])) >= 30)
    wait_for(lambda: queue_depth(config, "on_order_approved") == 0)
    time.sleep(0.5)
    assert len(entries_of_partner(engines["commission"], partner["id"])) == 30


def test_partner_unknown_to_commission_is_fetched_from_the_partners_service(
    engines, config, queues, client, partners_service, container_factory
) -> None:
    partner = create_partner(client, "provincial_agent")
    wait_for(lambda: sent(engines["partners"], "partner_created", "id", partner["id"]))
    with Connection(config["AMQP_URI"]) as connection:  # its event is lost on the way
        channel = connection.channel()
        for method in ("on_partner_created", "on_partner_updated"):
            name = handler_queue_name("partners", method.removeprefix("on_"), "commission", method)
            channel.queue_purge(name)

    container_factory(CommissionService, config).start()
    publish(amqp_uri=config["AMQP_URI"], envelope=approved(partner["id"], total="20000.00"))
    wait_for(lambda: len(entries_of_partner(engines["commission"], partner["id"])) == 1)
    [entry] = entries_of_partner(engines["commission"], partner["id"])
    assert (entry.partner_type, entry.amount) == ("provincial_agent", Decimal("2000.00"))
    with Session(engines["commission"]) as session:
        copy = session.get(PartnerCopy, partner["id"])
        assert (copy.code, copy.type) == (partner["code"], "provincial_agent")


def test_partner_type_change_reaches_commission_through_partners_events(
    engines, config, queues, client, partners_service, container_factory
) -> None:
    container_factory(CommissionService, config).start()
    partner = create_partner(client, "city_partner")

    def copy_type() -> str | None:
        with Session(engines["commission"]) as session:
            copy = session.get(PartnerCopy, partner["id"])
            return copy.type if copy else None

    wait_for(lambda: copy_type() == "city_partner")
    client.call(
        "partners", "update_partner", partner["id"], {"type": "provincial_agent"}, caller=hq()
    )
    wait_for(lambda: copy_type() == "provincial_agent")
    publish(amqp_uri=config["AMQP_URI"], envelope=approved(partner["id"]))
    wait_for(lambda: len(entries_of_partner(engines["commission"], partner["id"])) == 1)
    assert entries_of_partner(engines["commission"], partner["id"])[0].partner_type == (
        "provincial_agent"
    )


def test_entry_and_statement_events_reach_commission_listeners(
    engines, config, queues, client, partners_service, container_factory
) -> None:
    exchange = get_event_exchange("commission", config)
    listener = Queue(
        f"test-commission-listener-{secrets.token_hex(3)}",
        bindings=[
            binding(exchange, routing_key=key)
            for key in ("commission_entry_created", "statement_issued")
        ],
        durable=False,
    )
    with Connection(config["AMQP_URI"]) as connection:
        listener(connection.channel()).declare()
    commission = container_factory(CommissionService, config)
    commission.start()
    partner = create_partner(client)
    publish(
        amqp_uri=config["AMQP_URI"],
        envelope=approved(partner["id"], total="4321.00", at="2025-01-10T02:00:00Z"),
    )
    wait_for(lambda: len(entries_of_partner(engines["commission"], partner["id"])) == 1)
    statement = client.call(
        "commission",
        "issue_statement",
        {"partner_id": partner["id"], "period": "2025-01"},
        caller=hq(),
    )

    received: list[dict] = []

    def got_both() -> bool:
        with Connection(config["AMQP_URI"]) as connection:
            queue = listener(connection.channel())
            while (message := queue.get(no_ack=True)) is not None:
                received.append(message.payload)
        return {m["type"] for m in received} >= {"commission_entry_created", "statement_issued"}

    wait_for(got_both)
    entry_event = next(m for m in received if m["type"] == "commission_entry_created")
    issued = next(m for m in received if m["type"] == "statement_issued")
    assert entry_event["source"] == "commission"
    assert (entry_event["data"]["amount"], entry_event["data"]["period"]) == ("432.10", "2025-01")
    assert issued["data"] == {
        "statement_id": statement["id"],
        "partner_id": partner["id"],
        "period": "2025-01",
        "total_amount": "432.10",
        "entry_count": 1,
    }
    # Its outbox row is marked sent (the relay commits that once the broker confirmed, so
    # the listener may have the message a moment before).
    wait_for(
        lambda: sent(engines["commission"], "statement_issued", "statement_id", statement["id"])
    )
