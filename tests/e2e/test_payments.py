"""Payments received (回款), payment plans and credit limits over HTTP with every service
running (DOMAIN.md, "Payments received (回款) and credit").

The partners are city partners of 西安 (610100), whose customers are in 雁塔区 (610113): no
other test's partner covers this region. HQ finance records receipts and refunds against
an approved order of 100,000.00; the partner reads them; another partner is told "not
found". Credit limits are set on partners of their own, so that what each owes is this
module's to count.
"""

from __future__ import annotations

import os
import time
import uuid
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from typing import Any

import pytest
from sqlalchemy import Connection, bindparam, text

import manage
from services.common.db import make_engine
from tests.support.answers import assert_problem, ok
from tests.support.approvals import StepApprovers
from tests.support.client import Client, unique
from tests.support.filing_api import FILINGS, customer_body, file_customer
from tests.support.waiting import wait_for
from tests.support.world import World

pytestmark = pytest.mark.skipif(
    "filing" not in manage.SERVICES,
    reason="ordering needs protected customers from the filing service",
)

ORDERS = "/api/v1/orders"
PAYMENTS = "/api/v1/payments"
CITY, DISTRICT = "610100", "610113"


@dataclass
class Payments:
    world: World
    approvers: StepApprovers
    finance: Client
    finance_2: Client
    a: dict
    b: dict
    a_sales: Client
    b_sales: Client

    def customer(self, sales: Client) -> dict:
        """A customer of ``sales``'s partner in 雁塔区, protected."""
        customer = file_customer(sales, customer_body(DISTRICT))
        self.approvers.approve_all(f"{FILINGS}/{customer['filing']['id']}")
        return customer

    def draft(self, sales: Client, total: str, customer: dict | None = None) -> dict:
        """A draft order of one product at its list price ``total``."""
        body = {"sku": unique("SKU-"), "name": "回款测试产品", "unit": "套", "list_price": total}
        product = ok(self.approvers.nth(0).post("/api/v1/products", body), 201)
        order = {
            "customer_id": (customer or self.customer(sales))["id"],
            "contract_no": unique("HT-"),
            "lines": [{"product_id": product["id"], "quantity": 1, "unit_price": total}],
        }
        return ok(sales.post(ORDERS, order), 201)

    def approved(self, total: str = "100000.00", sales: Client | None = None) -> dict:
        """An order of ``total`` of ``sales``'s partner (A's by default), approved."""
        sales = sales or self.a_sales
        order = self.draft(sales, total)
        ok(sales.post(f"{ORDERS}/{order['id']}/submit"))
        approved = self.approvers.approve_all(f"{ORDERS}/{order['id']}")
        assert approved["status"] == "approved", approved
        return approved


@pytest.fixture(scope="module")
def pay(admin: Client, anonymous: Client) -> Payments:
    world = World(admin, anonymous)
    a, b = world.partner([CITY]), world.partner([CITY])
    return Payments(
        world=world,
        # Made before anything is submitted: an account made later decides no step.
        approvers=StepApprovers(world),
        finance=world.login(world.user(None, ["finance"])),
        finance_2=world.login(world.user(None, ["finance"])),
        a=a,
        b=b,
        a_sales=world.partner_user(a["id"]),
        b_sales=world.partner_user(b["id"]),
    )


def receipt(amount: str, kind: str = "receipt", **extra: Any) -> dict:
    today = datetime.now(UTC).date().isoformat()
    return {"amount": amount, "received_on": today, "method": "bank_transfer", "kind": kind} | extra


@contextmanager
def _orders_db() -> Iterator[Connection]:
    engine = make_engine(os.environ["ORDERS_DATABASE_URL"], pool_size=1, max_overflow=0)
    try:
        with engine.connect() as connection:
            yield connection
    finally:
        engine.dispose()


def payment_events(payment_id: int) -> list[dict]:
    """The events the orders service put in its outbox for the payment (read only)."""
    with _orders_db() as connection:
        rows = connection.execute(
            text(
                "SELECT payload FROM outbox WHERE event_type IN"
                " ('payment_recorded', 'payment_refunded') ORDER BY id DESC LIMIT 200"
            )
        ).all()
    return [row.payload for row in rows if row.payload["data"]["payment_id"] == payment_id]


def at_once(order_ids: list[int], requests: list[Callable[[], Any]]) -> list[Any]:
    """Send ``requests`` together, while the orders ``order_ids`` are locked in the orders
    database (a read FOR UPDATE, which changes nothing): each request, which locks its
    order first, waits for it, and all go on at the same instant. The orders are let go
    once as many statements as there are requests wait for a lock, or after 5 seconds."""
    with _orders_db() as gate, ThreadPoolExecutor(len(requests)) as pool:
        gate.execute(
            text("SELECT 1 FROM orders WHERE id IN :ids FOR UPDATE").bindparams(
                bindparam("ids", expanding=True)
            ),
            {"ids": order_ids},
        )
        sent = [pool.submit(request) for request in requests]
        with _orders_db() as watcher:
            for _ in range(100):
                waiting = watcher.execute(
                    text(
                        "SELECT count(*) FROM pg_stat_activity WHERE datname ="
                        " current_database() AND wait_event_type = 'Lock'"
                    )
                ).scalar()
                watcher.rollback()
                if waiting >= len(requests):
                    break
                time.sleep(0.05)
        gate.rollback()
        return [answer.result() for answer in sent]


# -- the scenario of an order of 100,000.00 ---------------------------------------------------


def test_plan_receipts_and_refunds_of_an_approved_order(pay: Payments) -> None:
    order = pay.approved("100000.00")
    path = f"{ORDERS}/{order['id']}"
    assert (order["paid_amount"], order["outstanding_amount"], order["payment_status"]) == (
        "0.00",
        "100000.00",
        "unpaid",
    )
    approved_on = date.fromisoformat(order["approved_at"][:10])

    # The default plan: the whole total due 30 days after the approval, not stored.
    plan = ok(pay.a_sales.get(f"{path}/payment-plan"))
    assert plan["default"] is True
    due = (approved_on + timedelta(days=30)).isoformat()
    assert plan["installments"] == [{"due_date": due, "amount": "100000.00"}]

    # HQ sets 30,000 + 70,000; a plan not summing to the total is refused.
    first, second = (approved_on + timedelta(days=d) for d in (10, 60))
    wrong = {
        "installments": [
            {"due_date": first.isoformat(), "amount": "30000.00"},
            {"due_date": second.isoformat(), "amount": "69999.99"},
        ]
    }
    refused = assert_problem(
        pay.finance.put(f"{path}/payment-plan", wrong), 422, "plan_total_mismatch"
    )
    assert "installments" in refused["errors"]
    early = {
        "installments": [
            {"due_date": (approved_on - timedelta(days=1)).isoformat(), "amount": "100000.00"}
        ]
    }
    assert_problem(pay.finance.put(f"{path}/payment-plan", early), 422, "invalid_input")
    right = {
        "installments": [
            {"due_date": second.isoformat(), "amount": "70000.00"},
            {"due_date": first.isoformat(), "amount": "30000.00"},
        ]
    }
    assert_problem(pay.a_sales.put(f"{path}/payment-plan", right), 403, "forbidden")
    plan = ok(pay.finance.put(f"{path}/payment-plan", right))
    assert plan["default"] is False
    assert plan["installments"] == [
        {"due_date": first.isoformat(), "amount": "30000.00"},
        {"due_date": second.isoformat(), "amount": "70000.00"},
    ]
    assert ok(pay.a_sales.get(f"{path}/payment-plan"))["installments"] == plan["installments"]

    # Receipts: 30,000 is partial, 80,000 more than outstanding, 70,000 pays it all.
    first_receipt = ok(
        pay.finance.post(f"{path}/payments", receipt("30000.00", reference="BK-1")), 201
    )
    assert first_receipt["kind"] == "receipt"
    assert first_receipt["reference"] == "BK-1"
    assert ok(pay.a_sales.get(path))["payment_status"] == "partial"
    over = assert_problem(
        pay.finance.post(f"{path}/payments", receipt("80000.00")), 422, "overpayment"
    )
    assert over["errors"] == {"amount": ["at most 70000.00"]}
    ok(pay.finance.post(f"{path}/payments", receipt("70000.00")), 201)
    shown = ok(pay.a_sales.get(path))
    assert (shown["paid_amount"], shown["outstanding_amount"], shown["payment_status"]) == (
        "100000.00",
        "0.00",
        "paid",
    )

    # Refunds: 10,000 makes it partial again; 100,000 is more than was received (90,000).
    refund = ok(pay.finance.post(f"{path}/payments", receipt("10000.00", "refund")), 201)
    shown = ok(pay.finance.get(path))
    assert (shown["paid_amount"], shown["payment_status"]) == ("90000.00", "partial")
    over = assert_problem(
        pay.finance.post(f"{path}/payments", receipt("100000.00", "refund")), 422, "overrefund"
    )
    assert over["errors"] == {"amount": ["at most 90000.00"]}

    # An order that was paid is refunded before it is cancelled.
    cancel = {"reason": "客户取消"}
    assert_problem(pay.finance.post(f"{path}/cancel", cancel), 409, "refund_first")
    assert ok(pay.finance.get(path))["status"] == "approved"

    # The partner reads its order's payments but records none; another partner sees nothing.
    listed = ok(pay.a_sales.get(f"{path}/payments"))
    assert [(p["kind"], p["amount"]) for p in listed] == [
        ("receipt", "30000.00"),
        ("receipt", "70000.00"),
        ("refund", "10000.00"),
    ]
    assert {p["recorded_by"] for p in listed} == {ok(pay.finance.get("/api/v1/me"))["id"]}
    mine = ok(pay.a_sales.get(PAYMENTS, params={"per_page": 100}))["items"]
    assert {p["id"] for p in listed} <= {p["id"] for p in mine}
    assert_problem(pay.a_sales.post(f"{path}/payments", receipt("1.00")), 403, "forbidden")
    for other in (f"{path}/payments", f"{path}/payment-plan", path):
        assert_problem(pay.b_sales.get(other), 404, "not_found")
    assert_problem(pay.b_sales.post(f"{path}/payments", receipt("1.00")), 403, "forbidden")
    theirs = ok(pay.b_sales.get(PAYMENTS, params={"partner_id": pay.a["id"]}))
    assert theirs["items"] == [] and theirs["total"] == 0
    by_hq = ok(pay.finance.get(PAYMENTS, params={"partner_id": pay.a["id"], "per_page": 100}))
    assert {p["id"] for p in listed} <= {p["id"] for p in by_hq["items"]}

    # What commission reads: the refund as it was published.
    [event] = payment_events(refund["id"])
    assert event["type"] == "payment_refunded"
    assert event["data"] == {
        "payment_id": refund["id"],
        "order_id": order["id"],
        "partner_id": pay.a["id"],
        "kind": "refund",
        "amount": "10000.00",
        "received_on": refund["received_on"],
        "order_total": "100000.00",
        "paid_amount_after": "90000.00",
        "sequence": 3,  # after the receipts of 30,000 and 70,000 (the refused one is none)
        "recorded_at": refund["created_at"],
    }
    [event] = payment_events(first_receipt["id"])
    assert (event["type"], event["data"]["paid_amount_after"], event["data"]["sequence"]) == (
        "payment_recorded",
        "30000.00",
        1,
    )


def test_payments_sorted_by_amount_count_a_refund_as_money_given_back(pay: Payments) -> None:
    order = pay.approved("1000.00")
    path = f"{ORDERS}/{order['id']}/payments"
    # 90 below 600 as money, above it as text
    for body in (receipt("600.00"), receipt("90.00"), receipt("500.00", "refund")):
        ok(pay.finance.post(path, body), 201)

    def amounts(sort: str) -> list[tuple[str, str]]:
        query = {"order_id": order["id"], "sort": sort}
        listed = ok(pay.finance.get("/api/v1/payments", params=query))["items"]
        return [(p["kind"], p["amount"]) for p in listed]

    assert amounts("amount") == [
        ("refund", "500.00"),
        ("receipt", "90.00"),
        ("receipt", "600.00"),
    ]
    assert amounts("-amount")[0] == ("receipt", "600.00")


def test_payments_wait_for_the_approval_and_name_a_day_that_has_come(pay: Payments) -> None:
    draft = pay.draft(pay.a_sales, "500.00")
    path = f"{ORDERS}/{draft['id']}"
    assert (draft["paid_amount"], draft["outstanding_amount"], draft["payment_status"]) == (
        "0.00",
        None,
        None,
    )
    assert_problem(pay.finance.post(f"{path}/payments", receipt("1.00")), 409, "invalid_state")
    assert_problem(pay.a_sales.get(f"{path}/payment-plan"), 409, "invalid_state")

    order = pay.approved("500.00")
    path = f"{ORDERS}/{order['id']}"
    today = datetime.now(UTC).date()
    for day in (today + timedelta(days=1), today - timedelta(days=1)):
        refused = assert_problem(
            pay.finance.post(f"{path}/payments", receipt("1.00", received_on=day.isoformat())),
            422,
            "invalid_input",
        )
        assert set(refused["errors"]) == {"received_on"}
    for amount in ("0", "-1.00", "1.001", "NaN", "1000000000000.00"):
        refused = assert_problem(
            pay.finance.post(f"{path}/payments", receipt(amount)), 422, "invalid_input"
        )
        assert "amount" in refused["errors"]
    assert ok(pay.finance.get(path))["paid_amount"] == "0.00"


def test_a_receipt_sent_again_with_its_idempotency_key_is_counted_once(pay: Payments) -> None:
    order = pay.approved("800.00")
    path = f"{ORDERS}/{order['id']}/payments"
    key = {"Idempotency-Key": str(uuid.uuid4())}
    first = ok(pay.finance.post(path, receipt("300.00"), headers=key), 201)
    again = ok(pay.finance.post(path, receipt("300.00"), headers=key), 201)
    assert again["id"] == first["id"]
    assert ok(pay.finance.get(f"{ORDERS}/{order['id']}"))["paid_amount"] == "300.00"
    assert len(ok(pay.finance.get(path))) == 1


def test_concurrent_receipts_that_together_overpay_are_counted_one_at_a_time(
    pay: Payments,
) -> None:
    order = pay.approved("1000.00")
    path = f"{ORDERS}/{order['id']}/payments"
    answers = at_once(
        [order["id"]],
        [lambda c=c: c.post(path, receipt("600.00")) for c in (pay.finance, pay.finance_2)],
    )
    assert sorted(a.status_code for a in answers) == [201, 422], [a.text for a in answers]
    assert next(a for a in answers if a.status_code == 422).json()["code"] == "overpayment"
    shown = ok(pay.finance.get(f"{ORDERS}/{order['id']}"))
    assert (shown["paid_amount"], shown["payment_status"]) == ("600.00", "partial")


# -- credit limits ----------------------------------------------------------------------------


def _credit_partner(pay: Payments) -> tuple[dict, Client, Client]:
    """A partner of its own (nothing owed yet) with two sales users."""
    partner = pay.world.partner([CITY])
    return partner, pay.world.partner_user(partner["id"]), pay.world.partner_user(partner["id"])


def test_a_credit_limit_refuses_submissions_beyond_what_is_available(pay: Payments) -> None:
    partner, sales, _ = _credit_partner(pay)
    credit = f"/api/v1/partners/{partner['id']}/credit"
    assert ok(pay.finance.get(credit)) | {"updated_at": None, "updated_by": None} == {
        "partner_id": partner["id"],
        "limit": None,
        "outstanding": "0.00",
        "available": None,
        "updated_at": None,
        "updated_by": None,
    }
    assert_problem(sales.put(credit, {"limit": "1.00"}), 403, "forbidden")
    assert_problem(pay.finance.put(credit, {"limit": "-1.00"}), 422, "invalid_input")
    set_to = ok(pay.finance.put(credit, {"limit": "100000.00"}))
    assert (set_to["limit"], set_to["available"]) == ("100000.00", "100000.00")

    # An order in approval counts; a partner reads its own credit, another partner not.
    customer = pay.customer(sales)
    first = pay.draft(sales, "60000.00", customer)
    ok(sales.post(f"{ORDERS}/{first['id']}/submit"))
    own = ok(sales.get(credit))
    assert (own["outstanding"], own["available"]) == ("60000.00", "40000.00")
    assert_problem(pay.a_sales.get(credit), 404, "not_found")
    assert_problem(pay.a_sales.get("/api/v1/partners/999999999/credit"), 404, "not_found")

    second = pay.draft(sales, "40000.01", customer)
    refused = assert_problem(
        sales.post(f"{ORDERS}/{second['id']}/submit"), 422, "credit_limit_exceeded"
    )
    assert refused["errors"]["available"] == ["40000.00"]
    assert ok(sales.get(f"{ORDERS}/{second['id']}"))["status"] == "draft"

    # Approved and paid in part: what was received is available again.
    approved = pay.approvers.approve_all(f"{ORDERS}/{first['id']}")
    assert approved["status"] == "approved"
    ok(pay.finance.post(f"{ORDERS}/{first['id']}/payments", receipt("0.01")), 201)
    assert ok(sales.get(credit))["available"] == "40000.01"
    ok(sales.post(f"{ORDERS}/{second['id']}/submit"))
    assert ok(sales.get(credit))["available"] == "0.00"

    # No limit: no check.
    assert ok(pay.finance.put(credit, {"limit": None}))["available"] is None
    third = pay.draft(sales, "999.00", customer)
    ok(sales.post(f"{ORDERS}/{third['id']}/submit"))


def test_two_submissions_at_once_that_fit_alone_but_not_together_one_passes(
    pay: Payments,
) -> None:
    partner, sales, sales_2 = _credit_partner(pay)
    ok(pay.finance.put(f"/api/v1/partners/{partner['id']}/credit", {"limit": "1000.00"}))
    customer = pay.customer(sales)
    drafts = [pay.draft(sales, "600.00", customer), pay.draft(sales, "600.00", customer)]
    answers = at_once(
        [d["id"] for d in drafts],
        [
            lambda c=c, d=d: c.post(f"{ORDERS}/{d['id']}/submit")
            for c, d in zip((sales, sales_2), drafts, strict=True)
        ],
    )
    assert sorted(a.status_code for a in answers) == [200, 422], [a.text for a in answers]
    refused = next(a for a in answers if a.status_code == 422).json()
    assert (refused["code"], refused["errors"]["available"]) == (
        "credit_limit_exceeded",
        ["400.00"],
    )
    owed = ok(sales.get(f"/api/v1/partners/{partner['id']}/credit"))["outstanding"]
    assert Decimal(owed) == Decimal("600.00")


def _audited(pay: Payments, **query: str) -> list[dict]:
    """The audit records matching ``query``, oldest first, once the log has them."""
    return pay.world.admin.get("/api/v1/audit", params=query | {"sort": "id"}).json()["items"]


def test_money_received_plans_and_credit_limits_are_in_the_audit_log(pay: Payments) -> None:
    order = pay.approved("5000.00")
    path = f"{ORDERS}/{order['id']}"
    due = (date.fromisoformat(order["approved_at"][:10]) + timedelta(days=20)).isoformat()
    ok(
        pay.finance.put(
            f"{path}/payment-plan", {"installments": [{"due_date": due, "amount": "5000.00"}]}
        )
    )
    paid = ok(pay.finance.post(f"{path}/payments", receipt("2000.00")), 201)
    back = ok(pay.finance.post(f"{path}/payments", receipt("500.00", kind="refund")), 201)
    # Refused: recorded nowhere.
    assert_problem(pay.finance.post(f"{path}/payments", receipt("9000.00")), 422, "overpayment")

    on_order = {"subject_type": "order", "subject_id": str(order["id"])}
    records = wait_for(
        lambda: (found := _audited(pay, **on_order)) and len(found) >= 3 and found,
        what="the order's audit records",
    )
    assert [(r["action"], r["source"]) for r in records] == [
        ("payment_plan_set", "orders"),
        ("payment_recorded", "orders"),
        ("payment_recorded", "orders"),
    ]
    assert records[0]["detail"] | {"first_due": None, "last_due": None} == {
        "partner_id": order["partner_id"],
        "installments": 1,
        "first_due": None,
        "last_due": None,
        "total_amount": "5000.00",
    }
    assert [
        (
            r["detail"]["payment_id"],
            r["detail"]["kind"],
            r["detail"]["amount"],
            r["detail"]["paid_amount_after"],
        )
        for r in records[1:]
    ] == [
        (paid["id"], "receipt", "2000.00", "2000.00"),
        (back["id"], "refund", "500.00", "1500.00"),
    ]
    finance_id = ok(pay.finance.get("/api/v1/me"))["id"]
    assert {r["actor_id"] for r in records} == {finance_id}

    partner, _, _ = _credit_partner(pay)
    credit = f"/api/v1/partners/{partner['id']}/credit"
    ok(pay.finance.put(credit, {"limit": "1000.00"}))
    ok(pay.finance.put(credit, {"limit": None}))
    on_partner = {"action": "credit_limit_set", "subject_id": str(partner["id"])}
    limits = wait_for(
        lambda: (found := _audited(pay, **on_partner)) and len(found) >= 2 and found,
        what="the credit limits' audit records",
    )
    assert [r["detail"] for r in limits] == [
        {"limit_before": None, "limit": "1000.00"},
        {"limit_before": "1000.00", "limit": None},
    ]
