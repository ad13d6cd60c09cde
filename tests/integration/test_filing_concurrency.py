"""Twenty partners file the same customer at the same moment: exactly one wins.

Real RabbitMQ and PostgreSQL: the partners and filing services run in Nameko containers
and twenty threads call ``filing.file_customer`` over RPC at once, each as a user of
another partner covering 深圳 (440300). A second test holds every filer right after the
duplicate check, so that only the database constraint stands between them.
"""

from __future__ import annotations

import random
import threading
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest
from nameko.testing.services import restrict_entrypoints
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from gateway.rpc import RpcClient
from services.common.config import get_settings
from services.common.context import Caller
from services.common.db import make_engine
from services.common.errors import Conflict
from services.common.migrations import upgrade
from services.common.unit_of_work import UnitOfWork
from services.filing import customers
from services.filing.keys import normalise_name, uscc_check_char
from services.filing.models import Customer, CustomerKey, Filing
from services.filing.service import FilingService
from services.partners import seed
from services.partners.service import PartnersService
from tests.support.client import unique

ROOT = Path(__file__).resolve().parents[2]
FILERS = 20
CITY = "440300"
USCC_ALPHABET = "0123456789ABCDEFGHJKLMNPQRTUWXY"
HQ = Caller(user_id=1, permissions=frozenset({"partner.manage"}))


@pytest.fixture(scope="module")
def engine():
    upgrade("partners", ROOT / "services" / "partners" / "migrations")
    upgrade("filing", ROOT / "services" / "filing" / "migrations")
    partners_engine = make_engine(get_settings().database_url("partners"))
    with Session(partners_engine) as session:
        seed.ensure_reference_data(session)
        session.commit()
    partners_engine.dispose()
    engine = make_engine(get_settings().database_url("filing"), pool_size=FILERS + 5)
    yield engine
    engine.dispose()


@pytest.fixture
def client(amqp_uri: str) -> Iterator[RpcClient]:
    client = RpcClient(amqp_uri, timeout=30)
    yield client
    client.close()


@pytest.fixture
def services(engine, container_factory, rabbit_config) -> None:
    config = rabbit_config | {"max_workers": FILERS + 5}
    partners = container_factory(PartnersService, config)
    restrict_entrypoints(partners, "create_partner", "suspend_partner", "partners_covering")
    filing = container_factory(FilingService, config)
    restrict_entrypoints(filing, "file_customer")  # no timers or listeners in this test
    partners.start()
    filing.start()


@pytest.fixture
def city_partners(services, client: RpcClient) -> Iterator[list[dict]]:
    """Twenty active partners covering the same city; suspended afterwards so that they
    take no leads from later tests."""
    made = [
        client.call(
            "partners",
            "create_partner",
            {
                "code": unique("SZ"),
                "name": f"深圳伙伴{i}",
                "type": "city_partner",
                "territory": [CITY],
            },
            caller=HQ,
        )
        for i in range(FILERS)
    ]
    yield made
    for partner in made:
        client.call("partners", "suspend_partner", partner["id"], caller=HQ)


def filer(partner_id: int, user_id: int) -> Caller:
    return Caller(
        user_id=user_id,
        partner_id=partner_id,
        partner_ids=frozenset({partner_id}),
        permissions=frozenset({"customer.create"}),
    )


def payload(name: str, phone: str, uscc: str) -> dict:
    return {
        "name": name,
        "uscc": uscc,
        "contact_name": "陈总",
        "phone": phone,
        "region_code": "440305",
    }


def same_customer() -> dict:
    """One customer: a unique name, mobile and valid USCC."""
    body = "91440300" + "".join(random.choices(USCC_ALPHABET, k=9))
    return payload(
        f"深圳{unique('s')}科技有限公司",
        f"13{random.randint(0, 999_999_999):09d}",
        body + uscc_check_char(body),
    )


def outcome(call: Any) -> str:
    try:
        call()
    except Conflict as exc:
        return exc.code
    return "filed"


def customer_rows(engine, name: str) -> tuple[int, int, int]:
    with Session(engine) as session:
        keys = session.scalar(
            select(func.count())
            .select_from(CustomerKey)
            .where(CustomerKey.kind == "name", CustomerKey.value == normalise_name(name))
        )
        customers = session.scalar(
            select(func.count()).select_from(Customer).where(Customer.name == name)
        )
        filings = session.scalar(
            select(func.count()).select_from(Filing).join(Customer).where(Customer.name == name)
        )
    return keys, customers, filings


def test_twenty_partners_filing_the_same_customer_at_once_over_rpc_one_wins(
    engine, client: RpcClient, city_partners: list[dict]
) -> None:
    data = same_customer()
    start = threading.Barrier(FILERS)

    def file_as(partner: dict) -> str:
        token = filer(partner["id"], 10_000 + partner["id"])
        start.wait()
        return outcome(lambda: client.call("filing", "file_customer", data, caller=token))

    with ThreadPoolExecutor(max_workers=FILERS) as pool:
        results = list(pool.map(file_as, city_partners))

    assert sorted(results) == ["filed"] + ["filing_conflict"] * (FILERS - 1)
    assert customer_rows(engine, data["name"]) == (1, 1, 1)


def test_when_all_pass_the_duplicate_check_together_the_key_constraint_lets_one_through(
    engine, monkeypatch: pytest.MonkeyPatch
) -> None:
    data = same_customer()
    checked = threading.Barrier(FILERS)
    original = customers.refuse_duplicates

    def check_then_wait(*args: Any) -> None:
        original(*args)
        checked.wait(timeout=30)  # nobody inserts before everybody has checked

    monkeypatch.setattr(customers, "refuse_duplicates", check_then_wait)
    partner_ids = [80_000_000 + i for i in range(FILERS)]

    def file_as(partner_id: int) -> str:
        covering = [{"partner_id": partner_id, "territory_code": CITY, "protection_days": 180}]
        with Session(engine) as session:
            return outcome(
                lambda: customers.file_customer(
                    UnitOfWork(lambda: session, "filing"),
                    filer(partner_id, partner_id),
                    dict(data),
                    lambda region: covering,
                )
            )

    with ThreadPoolExecutor(max_workers=FILERS) as pool:
        results = list(pool.map(file_as, partner_ids))

    assert sorted(results) == ["filed"] + ["filing_conflict"] * (FILERS - 1)
    assert customer_rows(engine, data["name"]) == (1, 1, 1)
