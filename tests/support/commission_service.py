"""The commission service on its own (tests/services): the partners service faked, the
orders service's events published as its outbox relay does, and the fixtures that run
the service in a vhost and on a database of the module's own."""

from __future__ import annotations

import secrets
from collections.abc import Iterator

import pytest
from kombu import Connection
from nameko.standalone.events import get_event_exchange
from nameko.testing.services import entrypoint_hook, replace_dependencies
from sqlalchemy.orm import Session

from services.commission import seed
from services.commission.service import CommissionService
from services.common.amqp import ConfirmingPublisher
from services.common.broker import parked_queue
from services.common.context import Caller, sign_caller
from services.common.db import make_engine
from services.common.entrypoints import event_queues
from services.common.errors import NotFound
from services.common.models import ProcessedEvent
from services.common.outbox import make_envelope
from tests.support import infra
from tests.support.waiting import wait_for

HQ = Caller(
    user_id=1, permissions=frozenset({"commission.manage", "commission.pay", "report.read"})
)


def new_id() -> int:
    """An id no other test of the run uses (partners and orders are named by id only)."""
    return 100_000_000 + secrets.randbelow(2_000_000_000)


def partner_caller(partner_id: int, *permissions: str, also_sees: int | None = None) -> Caller:
    """A partner user; ``also_sees`` a sub-partner, as a partner admin of a parent does."""
    scope = {partner_id} if also_sees is None else {partner_id, also_sees}
    return Caller(
        user_id=new_id(),
        partner_id=partner_id,
        partner_ids=frozenset(scope),
        permissions=frozenset(permissions or ("report.read", "commission.confirm")),
    )


class FakePartners:
    """Stands in for the partners service: the partners it knows, and the calls it got."""

    def __init__(self) -> None:
        self.partners: dict[int, dict] = {}
        self.fetched: list[int] = []

    def add(self, type_: str = "city_partner") -> int:
        partner_id = new_id()
        self.partners[partner_id] = {
            "id": partner_id,
            "code": f"P{partner_id}",
            "name": f"伙伴 {partner_id}",
            "type": type_,
            "parent_id": None,
            "status": "active",
            "territory": ["330100"],
            "contact_name": None,
            "contact_phone": None,
            "contact_email": None,
            "created_at": "2026-01-01T00:00:00Z",
        }
        return partner_id

    def get_partner(self, partner_id: int) -> dict:
        self.fetched.append(partner_id)
        if partner_id not in self.partners:
            raise NotFound(f"partner {partner_id} not found")
        return self.partners[partner_id]

    def list_partner_types(self) -> list[dict]:
        return [{"code": "city_partner"}, {"code": "provincial_agent"}]


# -- fixtures ---------------------------------------------------------------------------


@pytest.fixture(scope="module")
def database_url() -> Iterator[str]:
    """A commission database of the module's own."""
    with infra.migrated_database("commission") as url:
        yield url


@pytest.fixture(scope="module")
def engine(database_url: str):
    """An engine on the module's database, with the seeded rates."""
    engine = make_engine(database_url)
    with Session(engine) as session:
        seed.bootstrap(session)
        session.commit()
    yield engine
    engine.dispose()


@pytest.fixture(scope="module")
def vhost_uri() -> Iterator[str]:
    name = f"prm-test-commission-{secrets.token_hex(4)}"
    uri = infra.create_vhost(name)
    yield uri
    infra.delete_vhost(name)


@pytest.fixture
def config(vhost_uri: str, database_url: str) -> dict:
    """The service's Nameko config: the module's vhost and database, quick retries."""
    return {
        "AMQP_URI": vhost_uri,
        "DATABASE_URL": database_url,
        "max_workers": 10,
        "serializer": "json",
        "EVENT_MAX_ATTEMPTS": 2,
        "EVENT_RETRY_DELAY": 0.05,
        "OUTBOX_INTERVAL": 0.1,
    }


@pytest.fixture
def partners() -> FakePartners:
    return FakePartners()


@pytest.fixture
def service(engine, config, container_factory, partners):
    with Connection(config["AMQP_URI"]) as connection:
        channel = connection.channel()
        for queue in event_queues(CommissionService, config):
            queue(channel).declare()
        parked_queue()(channel).declare()
    container = container_factory(CommissionService, config)
    fake = replace_dependencies(container, "partners")
    fake.get_partner.side_effect = partners.get_partner
    fake.list_partner_types.side_effect = partners.list_partner_types
    container.start()
    return container


def call(container, method: str, *args, caller: Caller = HQ):
    with entrypoint_hook(container, method, context_data={"caller": sign_caller(caller)}) as hook:
        return hook(*args)


class Orders:
    """Publishes the orders service's events, as its outbox relay does."""

    def __init__(self, engine, config: dict) -> None:
        self.engine, self.config = engine, config

    def publish(self, envelope: dict, wait: bool = True) -> dict:
        publisher = ConfirmingPublisher(self.config["AMQP_URI"])
        try:
            publisher.publish(
                envelope,
                exchange=get_event_exchange("orders", self.config),
                routing_key=envelope["type"],
            )
        finally:
            publisher.close()
        if wait:
            self.wait_applied(envelope)
        return envelope

    def wait_applied(self, envelope: dict) -> None:
        handler = {
            "order_approved": "commission.on_order_approved",
            "order_cancelled": "commission.on_order_cancelled",
        }[envelope["type"]]

        def applied() -> bool:
            with Session(self.engine) as session:
                return (
                    session.get(ProcessedEvent, {"event_id": envelope["id"], "handler": handler})
                    is not None
                )

        wait_for(applied)

    def approved(self, partner_id: int, order_id: int | None = None, **data) -> dict:
        order_id = order_id or new_id()
        body = {
            "order_id": order_id,
            "partner_id": partner_id,
            "customer_id": new_id(),
            "customer_name": "杭州某某科技有限公司",
            "contract_no": f"HT-{order_id}",
            "region_code": "330106",
            "province": "330000",
            "city": "330100",
            "customer_source": "partner",
            "total_amount": "100000.00",
            "lines": [
                {
                    "product_id": 1,
                    "sku": "SKU-1",
                    "quantity": 1,
                    "unit_price": data.get("total_amount", "100000.00"),
                    "amount": data.get("total_amount", "100000.00"),
                }
            ],
            "approved_at": "2026-11-20T02:00:00Z",
        } | data
        return make_envelope("orders", "order_approved", body)

    def cancelled(self, approved: dict, was_approved: bool = True, **data) -> dict:
        order = approved["data"]
        body = {
            "order_id": order["order_id"],
            "partner_id": order["partner_id"],
            "customer_id": order["customer_id"],
            "contract_no": order["contract_no"],
            "was_approved": was_approved,
            "approved_at": order["approved_at"] if was_approved else None,
            "total_amount": order["total_amount"],
            "customer_source": order["customer_source"],
            "reason": "客户取消",
            "cancelled_at": "2026-11-25T02:00:00Z",
        } | data
        return make_envelope("orders", "order_cancelled", body)


@pytest.fixture
def orders(engine, config) -> Orders:
    return Orders(engine, config)


def settled_month(service, partners, orders, amounts: list[str], period: str = "2025-06") -> int:
    """A new partner with one approved order per amount in ``period``: its id."""
    partner_id = partners.add()
    for amount in amounts:
        orders.publish(
            orders.approved(partner_id, total_amount=amount, approved_at=f"{period}-15T02:00:00Z")
        )
    return partner_id
