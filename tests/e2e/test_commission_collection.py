"""Commission on collection (回款提成) over HTTP with every service running (DOMAIN.md,
"Commission"): a partner whose rate rule has basis ``collection`` earns nothing when its
order is approved, then receipt x the rate fixed at approval with each receipt HQ finance
records, and gives back refund x rate with each refund.

The partner is a city partner of 兰州 (620100), its customer in 七里河区 (620103): its
rate override is its own, and no other test's entries are its.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest

import manage
from tests.support.answers import ok
from tests.support.approvals import StepApprovers
from tests.support.client import Client, unique
from tests.support.filing_api import FILINGS, customer_body, file_customer
from tests.support.waiting import wait_for
from tests.support.world import World

pytestmark = pytest.mark.skipif(
    "filing" not in manage.SERVICES or "orders" not in manage.SERVICES,
    reason="ordering needs protected customers from the filing service",
)

RATES = "/api/v1/commission/rates"
ENTRIES = "/api/v1/commissions"
ORDERS = "/api/v1/orders"
CITY, DISTRICT = "620100", "620103"


def payment(amount: str, kind: str = "receipt") -> dict:
    today = datetime.now(UTC).date().isoformat()
    return {"amount": amount, "received_on": today, "method": "bank_transfer", "kind": kind}


def entries_of(client: Client, order_id: int, count: int) -> list[dict]:
    """The order's entries once there are ``count`` of them, oldest first."""

    def found() -> list[dict] | None:
        items = ok(client.get(ENTRIES, params={"order_id": order_id, "per_page": 100}))["items"]
        return sorted(items, key=lambda e: e["id"]) if len(items) >= count else None

    return wait_for(found, what=f"{count} commission entries of order {order_id}")


def commission_of(client: Client, order_id: int, accrued: str) -> dict[str, Any]:
    """The order's ``commission`` once it shows ``accrued``."""
    return wait_for(
        lambda: (
            (c := ok(client.get(f"{ORDERS}/{order_id}"))["commission"])
            and c["accrued"] == accrued
            and c
        ),
        what=f"order {order_id}'s commission accrued {accrued}",
    )


def approved_order(admin: Client, world: World, rate: str) -> tuple[Client, Client, dict[str, Any]]:
    """A partner of 兰州 on a collection rule of ``rate`` for its own customers, its sales
    user, HQ finance, and its order of 100,000.00, approved."""
    approvers = StepApprovers(world)  # before anything is submitted
    finance = world.login(world.user(None, ["finance"]))
    partner = world.partner([CITY])
    sales = world.partner_user(partner["id"])
    rule = {
        "partner_id": partner["id"],
        "self_sourced_rate": rate,
        "hq_assigned_rate": "0.01",
        "effective_from": "2020-01-01",
        "basis": "collection",
    }
    assert ok(admin.put(RATES, rule))["basis"] == "collection"

    customer = file_customer(sales, customer_body(DISTRICT))
    approvers.approve_all(f"{FILINGS}/{customer['filing']['id']}")
    product = ok(
        approvers.nth(0).post(
            "/api/v1/products",
            {
                "sku": unique("SKU-"),
                "name": "回款提成产品",
                "unit": "套",
                "list_price": "100000.00",
            },
        ),
        201,
    )
    order = ok(
        sales.post(
            ORDERS,
            {
                "customer_id": customer["id"],
                "contract_no": unique("HT-"),
                "lines": [{"product_id": product["id"], "quantity": 1, "unit_price": "100000.00"}],
            },
        ),
        201,
    )
    ok(sales.post(f"{ORDERS}/{order['id']}/submit"))
    assert approvers.approve_all(f"{ORDERS}/{order['id']}")["status"] == "approved"
    return sales, finance, order


def test_an_order_on_collection_accrues_with_each_receipt_and_gives_back_with_a_refund(
    admin: Client, world: World
) -> None:
    sales, finance, order = approved_order(admin, world, "0.08")

    # Approved: the rate is fixed, nothing is earned yet.
    assert commission_of(sales, order["id"], "0.00") == {
        "rate": "0.08",
        "amount": "8000.00",
        "basis": "collection",
        "accrued": "0.00",
    }
    assert ok(sales.get(ENTRIES, params={"order_id": order["id"]}))["items"] == []

    path = f"{ORDERS}/{order['id']}/payments"
    first = ok(finance.post(path, payment("30000.00")), 201)
    second = ok(finance.post(path, payment("70000.00")), 201)
    refund = ok(finance.post(path, payment("10000.00", "refund")), 201)

    found = entries_of(sales, order["id"], 3)
    assert [(e["kind"], e["amount"], e["payment_id"]) for e in found] == [
        ("commission", "2400.00", first["id"]),
        ("commission", "5600.00", second["id"]),
        ("reversal", "-800.00", refund["id"]),
    ]
    assert commission_of(sales, order["id"], "7200.00")["amount"] == "8000.00"
    # Another partner sees none of it.
    other = world.partner_user(world.partner([CITY])["id"])
    assert ok(other.get(ENTRIES, params={"order_id": order["id"]}))["items"] == []


def test_receipts_that_each_round_up_never_accrue_beyond_contract_times_rate(
    admin: Client, world: World
) -> None:
    sales, finance, order = approved_order(admin, world, "0.03")
    path = f"{ORDERS}/{order['id']}/payments"
    paid = [
        ok(finance.post(path, payment(amount)), 201)
        for amount in ("33333.33", "33333.33", "33333.34")
    ]

    found = entries_of(sales, order["id"], 3)
    # 33,333.33 x 3 % = 999.9999 -> 1,000.00 each; the last receipt takes what remains.
    assert [(e["amount"], e["payment_id"]) for e in found] == [
        ("1000.00", paid[0]["id"]),
        ("1000.00", paid[1]["id"]),
        ("1000.00", paid[2]["id"]),
    ]
    assert commission_of(sales, order["id"], "3000.00")["amount"] == "3000.00"
