"""The notify service on its own (tests/services, and the security tier's webhook rules):
a database and a vhost of the module's own, a made-up directory of people, the calls the
tests make through Nameko's testing tools."""

from __future__ import annotations

import itertools
import secrets
from collections.abc import Iterator
from types import SimpleNamespace

import pytest
from nameko.standalone.events import get_event_exchange
from nameko.testing.services import entrypoint_hook, entrypoint_waiter, replace_dependencies
from sqlalchemy import select
from sqlalchemy.orm import Session

from services.common.amqp import ConfirmingPublisher
from services.common.context import Caller, sign_caller
from services.common.db import make_engine
from services.common.outbox import make_envelope
from services.notify.models import Delivery
from services.notify.service import NotifyService
from tests.support import infra

_ids = itertools.count(10_000 + secrets.randbelow(10_000) * 100)


@pytest.fixture(scope="module")
def isolated() -> Iterator[SimpleNamespace]:
    """A notify database and a vhost of the module's own: the e2e stack never sees them."""
    name = f"prm_test_notify_svc_{secrets.token_hex(4)}"
    with infra.migrated_database("notify") as url:
        amqp_uri = infra.create_vhost(name)
        engine = make_engine(url)
        try:
            yield SimpleNamespace(url=url, amqp_uri=amqp_uri, engine=engine)
        finally:
            engine.dispose()
            infra.delete_vhost(name)


@pytest.fixture
def people() -> dict:
    """(permission, partner id or None) -> users the directory answers with."""
    return {}


@pytest.fixture
def service(isolated, people, container_factory) -> SimpleNamespace:
    """The notify service on the module's database and vhost, its partners directory
    answering from ``people`` and its delivery loop stopped."""
    config = {"AMQP_URI": isolated.amqp_uri, "DATABASE_URL": isolated.url, "serializer": "json"}
    container = container_factory(NotifyService, config)
    partners, wake = replace_dependencies(container, "partners", "wake_deliveries")
    partners.recipients.side_effect = lambda query: people.get(
        (query["permission"], query["partner_id"]), []
    )
    container.start()
    return SimpleNamespace(container=container, partners=partners, wake=wake)


def new_id() -> int:
    """An id no other row of the module has."""
    return next(_ids)


def user(partner_id: int | None = None, language: str = "zh") -> dict:
    """A user as the partners directory describes one."""
    uid = new_id()
    return {
        "id": uid,
        "username": f"u{uid}",
        "display_name": "测试",
        "email": None,
        "partner_id": partner_id,
        "language": language,
    }


def caller_of(person: dict, *permissions: str) -> Caller:
    """``person`` as a caller holding ``permissions``."""
    partner_id = person["partner_id"]
    return Caller(
        user_id=person["id"],
        partner_id=partner_id,
        partner_ids=None if partner_id is None else frozenset({partner_id}),
        permissions=frozenset(permissions),
    )


def call(service, method: str, *args, caller: Caller):
    """``method`` of the service called as ``caller``."""
    context = {"caller": sign_caller(caller)}
    with entrypoint_hook(service.container, method, context_data=context) as hook:
        return hook(*args)


def deliver_event(service, handler: str, event: dict) -> None:
    """``event`` handed to ``handler`` directly."""
    with entrypoint_hook(service.container, handler) as hook:
        hook(event)


def redeliver_event(service, handler: str, event: dict, then: dict) -> None:
    """Publish ``event`` again, as the broker redelivers it, and after it ``then``; wait
    until ``then`` is applied. The handler's entry point looks at each message in turn, so
    by then it has seen the redelivered one (and skipped it if it applied it already)."""
    config = service.container.config
    publisher = ConfirmingPublisher(config["AMQP_URI"])
    try:
        with entrypoint_waiter(service.container, handler, timeout=10):
            for envelope in (event, then):
                publisher.publish(
                    envelope,
                    exchange=get_event_exchange(envelope["source"], config),
                    routing_key=envelope["type"],
                )
    finally:
        publisher.close()


def lead_assigned(partner_id: int, name: str = "杭州云栖科技") -> dict:
    """A ``filing.lead_assigned`` envelope for ``partner_id``."""
    return make_envelope(
        "filing",
        "lead_assigned",
        {
            "lead_id": new_id(),
            "lead_name": name,
            "partner_id": partner_id,
            "region_code": "330106",
            "status": "assigned",
            "claim_deadline": "2026-05-04T08:30:00Z",
        },
    )


def inbox(service, person: dict, **query) -> list[dict]:
    """``person``'s inbox."""
    page = call(service, "list_notifications", query, caller=caller_of(person))
    return page["items"]


def deliveries(isolated, channel_id: int) -> list[Delivery]:
    """The deliveries queued for channel ``channel_id``."""
    with Session(isolated.engine) as session:
        return list(
            session.scalars(select(Delivery).where(Delivery.channel_id == channel_id)).all()
        )


def webhook(service, owner: Caller, **extra) -> dict:
    """A webhook channel of ``owner``."""
    body = {"kind": "webhook", "target": "http://127.0.0.1:9/hook"} | extra
    return call(service, "create_channel", body, caller=owner)
