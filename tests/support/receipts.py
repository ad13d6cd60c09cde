"""Receipts (回款) under faults: orders of a partner whose rate rule has basis
``collection``, approved before any fault; HQ finance recording their receipts on several
client threads while the faults strike; then what the API shows, against what the clients
were acknowledged.

The clients behave as the order workload's (``tests/support/workload.py``): each receipt is
a POST with an ``Idempotency-Key`` of its own, sent again with the same key after a
502/503/504 or a dropped connection, and must be answered 201. Afterwards every receipt the
API acknowledged is listed once under its order, every order's ``paid_amount`` is the sum
of its acknowledged receipts, and commission holds exactly one entry per receipt: receipt x
rate rounded half-up, the receipt completing the payment taking what remains of contract x
rate. Nothing lost, nothing twice, nothing nobody recorded.

The partner covers 乌鲁木齐市 (650100) and its customer is in 沙依巴克区 (650103): leads of
天山区 (650102), the order workload's district, still go to the order workload's partner
(the most specific territory first).
"""

from __future__ import annotations

import threading
import time
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

from services.common.money import apply_rate, money
from tests.support.answers import created, ok
from tests.support.chaos import Chaos
from tests.support.client import Client, unique
from tests.support.fake_data import mobile
from tests.support.ledger import Report
from tests.support.scenario import made_user, new_partner, new_user
from tests.support.waiting import wait_for
from tests.support.workload import GaveUp, OrderWorld, Outcome, PatientClient, run_orders

CITY, DISTRICT = "650100", "650103"
#: The partner's rate on its own customers. With it a receipt ending in 0.10 yuan modulo
#: 0.20 accrues exactly half a cent: rounded half-up, never to the even cent.
RATE = Decimal("0.05")
#: Each order's receipts (two lines of 2 x 1234.50: 2469.00 in all). Each one's share is
#: half a cent before rounding (12.50 -> 0.63, 1000.10 -> 50.01, 832.30 -> 41.62, 624.10 ->
#: 31.21), so the last one's remainder (31.19) differs from its own share.
PLAN = (Decimal("12.50"), Decimal("1000.10"), Decimal("832.30"), Decimal("624.10"))
TOTAL = Decimal("2469.00")
ENTRIES = "/api/v1/commissions"


@dataclass
class ReceiptWorld:
    """The order world of a partner on basis ``collection`` and HQ finance's clerk, who
    records receipts (and decides no approval step)."""

    orders: OrderWorld
    finance: Client


@dataclass
class Receipts:
    """What the clients were acknowledged: payment id -> (order id, amount), and the orders
    to be paid in full; the errors they rode out and the receipts they gave up on."""

    acknowledged: dict[int, tuple[int, Decimal]] = field(default_factory=dict)
    paid_in_full: set[int] = field(default_factory=set)
    outcome: Outcome = field(default_factory=Outcome)

    def of_order(self, order_id: int) -> dict[int, Decimal]:
        return {p: amount for p, (o, amount) in self.acknowledged.items() if o == order_id}


def receipt_world(admin: Client, url: str) -> ReceiptWorld:
    """A partner covering 乌鲁木齐市 with a rate rule of basis ``collection`` (``RATE`` on
    its own customers), a protected customer of its own, a product, its sales user, one HQ
    approver per step, an HQ channel manager and an HQ finance clerk."""
    partner = new_partner(admin, [CITY])
    ok(
        admin.put(
            "/api/v1/commission/rates",
            {
                "partner_id": partner["id"],
                "self_sourced_rate": str(RATE),
                "hq_assigned_rate": "0.01",
                "effective_from": "2020-01-01",
                "basis": "collection",
            },
        )
    )
    seller = new_user(admin, url, partner["id"], ["partner_sales"])
    approvers = [new_user(admin, url, None, ["sales_ops"]), new_user(admin, url, None, ["finance"])]
    channel = new_user(admin, url, None, ["channel_manager"])
    finance, _ = made_user(admin, url, None, ["finance"])
    customer = created(
        seller.post(
            "/api/v1/customers",
            {
                "name": f"乌鲁木齐{unique()}回款测试有限公司",
                "contact_name": "阿依古丽",
                "phone": mobile(),
                "region_code": DISTRICT,
            },
        )
    )
    created(admin.post(f"/api/v1/filings/{customer['filing']['id']}/approve", {"comment": "同意"}))
    product = created(
        admin.post(
            "/api/v1/products",
            {
                "sku": unique("SKU-"),
                "name": "回款故障测试产品",
                "unit": "套",
                "list_price": "1234.50",
            },
        )
    )
    world = OrderWorld(
        seller=seller,
        approvers=approvers,
        channel=channel,
        customer_id=customer["id"],
        product_id=product["id"],
        partner_id=partner["id"],
        region_code=DISTRICT,
    )
    return ReceiptWorld(orders=world, finance=finance)


def approved_orders(world: ReceiptWorld, count: int, threads: int) -> list[int]:
    """``count`` orders approved quietly, before any fault; each shows its commission fixed
    at ``RATE`` on basis ``collection``, nothing accrued."""
    outcome = Outcome()
    run_orders(world.orders, count, threads, outcome)
    assert not outcome.failed and len(outcome.approved) == count, outcome.failed
    order_ids = sorted(outcome.approved)
    for order_id in order_ids:
        order = wait_for(
            lambda o=order_id: _commission_fixed(world.finance, o),
            timeout=120,
            what=f"order {order_id}'s commission fixed",
        )
        assert order["total_amount"] == f"{TOTAL:.2f}", order
        assert order["commission"]["basis"] == "collection", order
        assert order["commission"]["rate"] == str(RATE), order
    return order_ids


def _commission_fixed(finance: Client, order_id: int) -> dict | None:
    order = ok(finance.get(f"/api/v1/orders/{order_id}"))
    return order if order.get("commission") else None


def record_receipts(
    world: ReceiptWorld,
    order_ids: list[int],
    threads: int,
    chaos: Chaos,
    patience: float = 120.0,
) -> Receipts:
    """HQ finance records ``PLAN`` against the orders on ``threads`` client threads, each
    order's receipts one after the other; every third order gets only the first two (it
    stays partly paid). ``chaos`` is told the receipts finished."""
    books = Receipts()
    today = datetime.now(UTC).date().isoformat()
    finished = 0
    lock = threading.Lock()

    def one(index: int, order_id: int) -> None:
        nonlocal finished
        clerk = PatientClient(world.finance, books.outcome, patience)
        plan = PLAN[:2] if index % 3 == 2 else PLAN
        if len(plan) == len(PLAN):
            with lock:
                books.paid_in_full.add(order_id)
        for position, amount in enumerate(plan):
            body = {
                "amount": f"{amount:.2f}",
                "received_on": today,
                "method": "bank_transfer",
                "reference": f"R{order_id}-{position}",
                "kind": "receipt",
            }
            try:
                answer = clerk.send("POST", f"/api/v1/orders/{order_id}/payments", body)
                assert answer.status_code == 201, f"{answer.status_code} {answer.text[:200]}"
                with lock:
                    books.acknowledged[answer.json()["id"]] = (order_id, amount)
            except (GaveUp, AssertionError) as exc:
                with books.outcome.lock:
                    books.outcome.failed[f"order {order_id} receipt {position}"] = str(exc)[:300]
                return  # the order's later receipts would not complete what they should
            finally:
                with lock:
                    finished += 1
                    current = finished
                chaos.progress(current)

    with ThreadPoolExecutor(threads) as pool:
        futures = [pool.submit(one, index, order_id) for index, order_id in enumerate(order_ids)]
        for future in futures:
            future.result()
    return books


def receipts_planned(orders: int) -> int:
    """How many receipts ``record_receipts`` records for ``orders`` orders."""
    return sum(2 if index % 3 == 2 else len(PLAN) for index in range(orders))


# -- what the API shows afterwards ------------------------------------------------------------


def read(client: Client, path: str, **params: Any) -> Any:
    """A GET answered 200, sent again while a service is still coming back after a fault
    (502/503/504 or a dropped connection)."""
    return ok(PatientClient(client, Outcome(), 120.0).send("GET", path, params=params))


def listed_payments(finance: Client, order_ids: list[int]) -> dict[int, list[dict]]:
    """Each order's payments (GET /orders/{id}/payments)."""
    return {o: read(finance, f"/api/v1/orders/{o}/payments") for o in order_ids}


def commission_entries(client: Client, partner_id: int, order_ids: list[int]) -> list[dict]:
    """The commission entries of the partner's orders ``order_ids`` (GET
    /commissions?partner_id=, page by page): an earlier scenario's orders are not this
    one's."""
    found: list[dict] = []
    page = 1
    while True:
        listed = read(client, ENTRIES, partner_id=partner_id, page=page, per_page=100)
        found += listed["items"]
        if not listed["items"] or len(found) >= listed["total"]:
            return [entry for entry in found if entry["order_id"] in order_ids]
        page += 1


def expected_accruals(books: Receipts) -> dict[int, Decimal]:
    """Payment id -> its entry's amount: receipt x ``RATE`` half-up, in the order the
    receipts were recorded (their ids); the one completing the payment takes the rest."""
    wanted: dict[int, Decimal] = {}
    by_order: dict[int, list[int]] = {}
    for payment_id, (order_id, _) in sorted(books.acknowledged.items()):
        by_order.setdefault(order_id, []).append(payment_id)
    whole = apply_rate(TOTAL, RATE)
    for payment_ids in by_order.values():
        paid = accrued = Decimal("0.00")
        for payment_id in payment_ids:
            amount = books.acknowledged[payment_id][1]
            paid += amount
            share = whole - accrued if paid >= TOTAL else apply_rate(amount, RATE)
            wanted[payment_id] = share
            accrued += share
    return wanted


def reconcile(
    report: Report,
    world: ReceiptWorld,
    books: Receipts,
    order_ids: list[int],
    admin: Client,
    timeout: float = 180.0,
) -> dict[str, Any]:
    """Wait until every acknowledged receipt has its entry (or ``timeout``), then count
    into ``report`` what is lost, twice or unexpected; the wrong amounts found (payment or
    order id, found, wanted), for the asserts to show."""
    expected = expected_accruals(books)
    partner_id = world.orders.partner_id

    def entries_in() -> list[dict] | None:
        found = commission_entries(admin, partner_id, order_ids)
        paid = {e["payment_id"] for e in found if e["payment_id"] is not None}
        return found if set(expected) <= paid else None

    began = time.monotonic()
    try:
        entries = wait_for(entries_in, timeout=timeout, what="an entry for every receipt")
    except AssertionError:  # counted below as lost
        entries = commission_entries(admin, partner_id, order_ids)
    report.converged_after = time.monotonic() - began
    listed = listed_payments(world.finance, order_ids)
    orders = {o: read(world.finance, f"/api/v1/orders/{o}") for o in order_ids}

    listed_ids = Counter(p["id"] for payments in listed.values() for p in payments)
    per_payment = Counter(e["payment_id"] for e in entries)
    wrong_amounts = [
        (e["payment_id"], e["amount"], f"{expected[e['payment_id']]:.2f}")
        for e in entries
        if e["payment_id"] in expected and Decimal(e["amount"]) != expected[e["payment_id"]]
    ]
    paid = {o: sum(books.of_order(o).values(), Decimal("0.00")) for o in order_ids}
    wrong_paid = [
        (o, order["paid_amount"], f"{paid[o]:.2f}")
        for o, order in orders.items()
        if money(order["paid_amount"]) != paid[o]
    ]
    whole = apply_rate(TOTAL, RATE)
    sums: dict[int, Decimal] = {}
    for entry in entries:
        sums[entry["order_id"]] = sums.get(entry["order_id"], Decimal(0)) + Decimal(entry["amount"])
    wrong_sums = [(o, sums.get(o)) for o in books.paid_in_full if sums.get(o) != whole]

    report.approved = len(order_ids)
    report.client_failures = len(books.outcome.failed)
    report.requests = books.outcome.requests
    report.retried = dict(sorted(books.outcome.retried.items()))
    report.lost = {
        "receipts (acknowledged, not listed)": len(set(books.acknowledged) - set(listed_ids)),
        "commission entries of receipts": len(set(expected) - set(per_payment)),
    }
    report.duplicated = {
        "receipts (listed twice)": sum(n - 1 for n in listed_ids.values() if n > 1),
        "commission entries (one receipt, several)": sum(
            n - 1 for p, n in per_payment.items() if p is not None and n > 1
        ),
    }
    report.unexpected = {
        "receipts nobody was acknowledged": 0
        if books.outcome.failed
        else len(set(listed_ids) - set(books.acknowledged)),
        "commission entries of no acknowledged receipt": sum(
            n for p, n in per_payment.items() if p not in expected
        ),
        "entry amounts not receipt x rate (or the remainder)": len(wrong_amounts),
        "orders whose paid amount is not their receipts'": len(wrong_paid),
        "orders paid in full not accruing contract x rate": len(wrong_sums),
    }
    report.counts.append(
        f"receipts: {receipts_planned(len(order_ids))} asked for, "
        f"{len(books.acknowledged)} acknowledged, {sum(listed_ids.values())} listed, "
        f"{sum(per_payment.values())} commission entries"
    )
    return {"wrong_amounts": wrong_amounts, "wrong_paid": wrong_paid, "wrong_sums": wrong_sums}
