"""An extension's approval and the expiry timer on the same customer, on PostgreSQL: each
waits for the other's row lock, then reads the customer afresh, so that a released
customer is never extended and an extended one never released."""

from __future__ import annotations

import secrets
from datetime import timedelta
from pathlib import Path

import pytest
from sqlalchemy.orm import Session

from services.common.approval import FlowInstance, parse_flow
from services.common.context import Caller
from services.common.db import make_engine
from services.common.migrations import upgrade
from services.common.timeutil import utcnow
from services.common.unit_of_work import UnitOfWork
from services.filing import extensions, housekeeping, rules
from services.filing.models import Customer, Extension
from tests.support import infra
from tests.support.concurrent_writers import second_writer_waits
from tests.support.fake_data import mobile

ROOT = Path(__file__).resolve().parents[2]
PARTNER = 92_000_001
ASKER = 700
APPROVER = Caller(user_id=5, permissions=frozenset({"extension.approve"}))


@pytest.fixture(scope="module")
def engine():
    name = f"prm_test_filing_extensions_{secrets.token_hex(4)}"
    url = infra.create_database(name)
    upgrade("filing", ROOT / "services" / "filing" / "migrations", url)
    engine = make_engine(url)
    yield engine
    engine.dispose()
    infra.drop_database(name)


def asked(engine, ends_in: timedelta) -> tuple[int, int]:
    """A customer of PARTNER whose protection ends ``ends_in`` from now, with a pending
    extension of 30 days: their ids."""
    now = utcnow()
    with Session(engine) as session:
        customer = Customer(
            name=f"福州{secrets.token_hex(3)}科技有限公司",
            contact_name="林经理",
            phone=mobile(),
            region_code="350102",
            source="partner",
            status="protected",
            owner_partner_id=PARTNER,
            protection_days=180,
            protection_started_at=now - timedelta(days=180),
            protected_until=now + ends_in,
        )
        session.add(customer)
        session.flush()
        flow = FlowInstance.start(
            parse_flow(rules.DEFAULT_EXTENSION_FLOW), {}, submitted_by=ASKER, started_at=now
        )
        extension = Extension(
            customer_id=customer.id,
            partner_id=PARTNER,
            days=30,
            reason="客户预算下月批复",
            status="pending",
            flow=flow.to_dict(),
            period_started_at=customer.protection_started_at,
            protected_until_before=customer.protected_until,
            requested_by=ASKER,
            created_at=now,
        )
        session.add(extension)
        session.commit()
        return customer.id, extension.id


def expire(session: Session) -> None:
    """One run of the timer's expiry, committed."""
    uow = UnitOfWork(lambda: session, "filing")
    with uow:
        housekeeping.release_expired(uow, utcnow())
        uow.commit()


def test_the_timer_waiting_for_an_approvals_lock_finds_the_customer_extended(engine) -> None:
    """While an approval holds the customer's lock and has moved its end (not committed
    yet), the timer, for which the protection has ended, waits; then it reads the row
    again and releases nothing."""
    customer_id, _ = asked(engine, timedelta(seconds=-1))
    with Session(engine) as approval:
        held = approval.get(Customer, customer_id, with_for_update=True)
        ended = held.protected_until
        thread, errors = second_writer_waits(engine, expire)
        held.protected_until = rules.extended_until(ended, 30)
        approval.commit()
    thread.join(30)
    assert errors == []
    with Session(engine) as check:
        customer = check.get(Customer, customer_id)
        assert customer.status == "protected"
        assert customer.protected_until == ended + timedelta(days=30)


def test_an_approval_waiting_for_the_timers_lock_finds_the_customer_released(engine) -> None:
    """While the timer holds the customer's lock and has released it (not committed yet),
    an approval waits; then it reads the customer again and is refused (409
    ``customer_not_protected``): the released customer is not extended."""
    customer_id, extension_id = asked(engine, timedelta(hours=1))
    with Session(engine) as timer:
        held = timer.get(Customer, customer_id, with_for_update=True)
        until = held.protected_until

        def approve(session: Session) -> None:
            uow = UnitOfWork(lambda: session, "filing")
            extensions.approve_extension(uow, APPROVER, extension_id, "同意")

        thread, errors = second_writer_waits(engine, approve)
        rules.release(held, utcnow())
        timer.commit()
    thread.join(30)
    assert [getattr(error, "code", None) for error in errors] == ["customer_not_protected"]
    with Session(engine) as check:
        assert check.get(Customer, customer_id).protected_until == until
        assert check.get(Extension, extension_id).status == "pending"


def test_the_timers_release_cancels_the_pending_extension(engine) -> None:
    customer_id, extension_id = asked(engine, timedelta(seconds=-1))
    with Session(engine) as session:
        expire(session)
    with Session(engine) as check:
        assert check.get(Customer, customer_id).status == "released"
        assert check.get(Extension, extension_id).status == "cancelled"
