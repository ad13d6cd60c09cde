"""Commission on collection, the commission service on its own (PostgreSQL and RabbitMQ):
an order approved under a rule of basis ``collection`` accrues with the receipts and
refunds the orders service publishes (``payment_recorded``, ``payment_refunded``), at the
rate fixed at approval, exactly once per payment, and never beyond contract x rate.
"""

# The fixtures come from tests.support.commission_service; pytest passes them by name.
# ruff: noqa: F811

from __future__ import annotations

import time
from decimal import Decimal

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session

from services.commission.models import CommissionEntry, OrderCommission
from services.common.models import ProcessedEvent
from services.common.outbox import make_envelope
from tests.support import infra
from tests.support.commission_service import (  # noqa: F401 - fixtures
    Orders,
    call,
    config,
    database_url,
    engine,
    new_id,
    partner_caller,
    partners,
    service,
    vhost_uri,
    wait_for,
)

D = Decimal
HANDLERS = {
    "order_approved": "commission.on_order_approved",
    "order_cancelled": "commission.on_order_cancelled",
    "payment_recorded": "commission.on_payment_recorded",
    "payment_refunded": "commission.on_payment_refunded",
}


class Payments(Orders):
    """The orders service's events, its payments too."""

    def wait_applied(self, envelope: dict) -> None:
        handler = HANDLERS[envelope["type"]]

        def applied() -> bool:
            with Session(self.engine) as session:
                key = {"event_id": envelope["id"], "handler": handler}
                return session.get(ProcessedEvent, key) is not None

        wait_for(applied, what=f"{envelope['type']} {envelope['id']} applied")

    def payment(
        self, approved: dict, amount: str, paid_after: str, refund: bool = False, **data
    ) -> dict:
        order = approved["data"]
        # Each payment of an order is its next one, as orders numbers them.
        counted = self.__dict__.setdefault("sequences", {})
        counted[order["order_id"]] = counted.get(order["order_id"], 0) + 1
        body = {
            "sequence": counted[order["order_id"]],
            "payment_id": new_id(),
            "order_id": order["order_id"],
            "partner_id": order["partner_id"],
            "kind": "refund" if refund else "receipt",
            "amount": amount,
            "received_on": "2026-11-25",
            "order_total": order["total_amount"],
            "paid_amount_after": paid_after,
            "recorded_at": "2026-11-25T02:00:00Z",
        } | data
        kind = "payment_refunded" if refund else "payment_recorded"
        return make_envelope("orders", kind, body)


@pytest.fixture
def orders(engine, config) -> Payments:
    return Payments(engine, config)


def on_collection(service, partners, rate: str = "0.08", since: str = "2026-01-01") -> int:
    """A new partner whose override pays ``rate`` on collection (both sources)."""
    partner_id = partners.add()
    call(
        service,
        "put_rate",
        {
            "partner_id": partner_id,
            "self_sourced_rate": rate,
            "hq_assigned_rate": rate,
            "effective_from": since,
            "basis": "collection",
        },
    )
    return partner_id


def entries_of(engine, order_id: int) -> list[CommissionEntry]:
    with Session(engine) as session:
        return list(
            session.scalars(
                select(CommissionEntry)
                .where(CommissionEntry.order_id == order_id)
                .order_by(CommissionEntry.id)
            )
        )


def amounts_of(engine, order_id: int) -> list[tuple[str, Decimal]]:
    return [(e.kind, e.amount) for e in entries_of(engine, order_id)]


def test_receipts_accrue_at_the_rate_fixed_at_approval_and_a_refund_reverses_its_share(
    service, partners, orders, engine
) -> None:
    partner_id = on_collection(service, partners, "0.08")
    approved = orders.publish(orders.approved(partner_id))
    order_id = approved["data"]["order_id"]
    assert entries_of(engine, order_id) == []
    assert call(service, "order_commission", order_id) == {
        "rate": "0.08",
        "amount": "8000.00",
        "basis": "collection",
        "accrued": "0.00",
    }
    # A later rate (even from a date before the receipts) changes nothing of this order.
    call(
        service,
        "put_rate",
        {
            "partner_id": partner_id,
            "self_sourced_rate": "0.10",
            "hq_assigned_rate": "0.10",
            "effective_from": "2026-11-21",
            "basis": "collection",
        },
    )
    first = orders.publish(orders.payment(approved, "30000.00", "30000.00"))
    orders.publish(orders.payment(approved, "70000.00", "100000.00", received_on="2026-12-02"))
    refund = orders.publish(orders.payment(approved, "10000.00", "90000.00", refund=True))

    assert amounts_of(engine, order_id) == [
        ("commission", D("2400.00")),
        ("commission", D("5600.00")),
        ("reversal", D("-800.00")),
    ]
    receipt, completing, reversal = entries_of(engine, order_id)
    assert (receipt.payment_id, receipt.contract_amount, receipt.rate, receipt.period) == (
        first["data"]["payment_id"],
        D("30000.00"),
        D("0.08"),
        "2026-11",
    )
    assert completing.period == "2026-12"
    assert (reversal.payment_id, reversal.contract_amount) == (
        refund["data"]["payment_id"],
        D("-10000.00"),
    )
    assert call(service, "order_commission", order_id) == {
        "rate": "0.08",
        "amount": "8000.00",
        "basis": "collection",
        "accrued": "7200.00",
    }
    listed = call(service, "list_entries", {"order_id": order_id})["items"]
    assert {item["payment_id"] for item in listed} == {
        entry.payment_id for entry in entries_of(engine, order_id)
    }


def test_three_thirds_at_3_percent_accrue_exactly_3000(service, partners, orders, engine) -> None:
    approved = orders.publish(orders.approved(on_collection(service, partners, "0.03")))
    for amount, paid in (
        ("33333.33", "33333.33"),
        ("33333.33", "66666.66"),
        ("33333.34", "100000.00"),
    ):
        orders.publish(orders.payment(approved, amount, paid))
    written = [amount for _, amount in amounts_of(engine, approved["data"]["order_id"])]
    assert written == [D("1000.00")] * 3


def test_the_completing_receipt_takes_what_roundings_down_left_over(
    service, partners, orders, engine
) -> None:
    # 10.30 x 1.5 % = 0.1545 -> 0.15 nine times; 7.30 would be 0.11: 1.46 in all.
    approved = orders.publish(
        orders.approved(on_collection(service, partners, "0.015"), total_amount="100.00")
    )
    paid = D("0.00")
    for amount in ["10.30"] * 9 + ["7.30"]:
        paid += D(amount)
        orders.publish(orders.payment(approved, amount, f"{paid:.2f}"))
    written = [amount for _, amount in amounts_of(engine, approved["data"]["order_id"])]
    assert written[-1] == D("0.15")
    assert sum(written) == D("1.50")


def test_payments_delivered_out_of_turn_are_applied_in_the_order_they_were_recorded(
    service, partners, orders, engine
) -> None:
    # 2,468.90 at 5 % = 123.45: the receipts' shares 0.63 + 50.01 + 41.62, and the last
    # takes the remainder, 31.19 (its own share would be 31.20). Delivered last first,
    # each waits for the ones recorded before it.
    approved = orders.publish(
        orders.approved(on_collection(service, partners, "0.05"), total_amount="2468.90")
    )
    built = [
        orders.payment(approved, amount, paid)
        for amount, paid in (
            ("12.50", "12.50"),
            ("1000.10", "1012.60"),
            ("832.30", "1844.90"),
            ("624.00", "2468.90"),
        )
    ]
    for envelope in reversed(built):
        orders.publish(envelope, wait=False)
    for envelope in built:
        orders.wait_applied(envelope)
    written = [(e.payment_id, e.amount) for e in entries_of(engine, approved["data"]["order_id"])]
    assert sorted(written) == sorted(
        [
            (built[0]["data"]["payment_id"], D("0.63")),
            (built[1]["data"]["payment_id"], D("50.01")),
            (built[2]["data"]["payment_id"], D("41.62")),
            (built[3]["data"]["payment_id"], D("31.19")),
        ]
    )


def test_a_payment_delivered_three_times_or_sent_again_writes_one_entry(
    service, partners, orders, engine
) -> None:
    approved = orders.publish(orders.approved(on_collection(service, partners)))
    receipt = orders.payment(approved, "30000.00", "30000.00")
    for _ in range(3):
        orders.publish(receipt)
    # The orders service sending the same payment again (a new event id) changes nothing.
    orders.publish(make_envelope("orders", "payment_recorded", receipt["data"]))
    assert amounts_of(engine, approved["data"]["order_id"]) == [("commission", D("2400.00"))]
    with Session(engine) as session:
        fixed = session.get(OrderCommission, approved["data"]["order_id"])
        assert fixed is not None and fixed.accrued == D("2400.00")


def test_a_payment_before_its_orders_approval_waits_for_it(
    service, partners, orders, engine, config
) -> None:
    approved = orders.approved(on_collection(service, partners))
    receipt = orders.publish(orders.payment(approved, "30000.00", "30000.00"), wait=False)
    time.sleep(1.5)  # several tries, more than EVENT_MAX_ATTEMPTS: it is retried, not parked
    assert entries_of(engine, approved["data"]["order_id"]) == []
    orders.publish(approved)
    orders.wait_applied(receipt)
    assert amounts_of(engine, approved["data"]["order_id"]) == [("commission", D("2400.00"))]
    with pytest.raises(AssertionError):
        infra.parked_message(config["AMQP_URI"], receipt["id"], timeout=0.5)


def test_payments_of_an_order_on_basis_approval_change_nothing(
    service, partners, orders, engine
) -> None:
    partner_id = partners.add()
    approved = orders.publish(orders.approved(partner_id, total_amount="12345.67"))
    order_id = approved["data"]["order_id"]
    [entry] = entries_of(engine, order_id)
    orders.publish(orders.payment(approved, "12345.67", "12345.67"))
    orders.publish(orders.payment(approved, "45.67", "12300.00", refund=True))
    assert [e.id for e in entries_of(engine, order_id)] == [entry.id]
    shown = call(service, "order_commission", order_id)
    assert shown["basis"] == "approval"
    assert shown["accrued"] == shown["amount"] == f"{entry.amount:.2f}"


def test_a_cancelled_order_on_collection_reverses_what_accrued_and_accrues_no_more(
    service, partners, orders, engine
) -> None:
    approved = orders.publish(orders.approved(on_collection(service, partners)))
    order_id = approved["data"]["order_id"]
    orders.publish(orders.payment(approved, "30000.00", "30000.00"))
    orders.publish(orders.cancelled(approved))
    orders.publish(orders.cancelled(approved))  # twice: one reversal
    orders.publish(orders.payment(approved, "10000.00", "20000.00", refund=True))
    orders.publish(orders.payment(approved, "5000.00", "25000.00"))
    assert amounts_of(engine, order_id) == [
        ("commission", D("2400.00")),
        ("reversal", D("-2400.00")),
    ]
    assert entries_of(engine, order_id)[1].payment_id is None
    assert call(service, "order_commission", order_id)["accrued"] == "0.00"


def test_a_cancellation_before_the_approval_fixes_the_rate_and_reverses_nothing(
    service, partners, orders, engine
) -> None:
    approved = orders.approved(on_collection(service, partners))
    orders.publish(orders.cancelled(approved))
    orders.publish(approved)
    orders.publish(orders.payment(approved, "30000.00", "30000.00"))
    assert entries_of(engine, approved["data"]["order_id"]) == []
    with Session(engine) as session:
        fixed = session.get(OrderCommission, approved["data"]["order_id"])
        assert fixed is not None and fixed.cancelled_at is not None


def test_payment_entries_are_settled_and_reported_like_any_other(
    service, partners, orders, engine
) -> None:
    partner_id = on_collection(service, partners, "0.05", since="2025-01-01")
    approved = orders.publish(
        orders.approved(partner_id, total_amount="10000.00", approved_at="2025-05-20T02:00:00Z")
    )
    for amount, paid, day in (
        ("4000.00", "4000.00", "2025-06-03"),
        ("6000.00", "10000.00", "2025-07-09"),
    ):
        orders.publish(orders.payment(approved, amount, paid, received_on=day))
    june = call(service, "issue_statement", {"partner_id": partner_id, "period": "2025-06"})
    assert (june["total_amount"], june["entry_count"]) == ("200.00", 1)
    report = call(
        service,
        "commission_report",
        {"group_by": "period", "partner_id": partner_id, "from": "2025-05", "to": "2025-07"},
    )
    assert [(r["period"], r["commission_amount"], r["entry_count"]) for r in report["rows"]] == [
        ("2025-06", "200.00", 1),
        ("2025-07", "300.00", 1),
    ]
    assert report["totals"]["contract_amount"] == "10000.00"
    # The partner sees its own payment entries, with the payment they accrue on.
    mine = call(service, "list_entries", {}, caller=partner_caller(partner_id))["items"]
    assert sorted(item["amount"] for item in mine) == ["200.00", "300.00"]
    assert all(item["payment_id"] for item in mine)


def test_rates_say_their_basis(service, partners) -> None:
    partner_id = on_collection(service, partners, "0.06")
    [rule] = call(service, "list_rates", {"partner_id": partner_id})["items"]
    assert rule["basis"] == "collection"
    in_force = call(service, "rate_in_force", {"partner_id": partner_id, "on": "2026-06-01"})
    assert (in_force["basis"], in_force["commission_basis"]) == ("partner", "collection")
    other = partners.add()
    call(
        service,
        "put_rate",
        {"partner_id": other, "self_sourced_rate": "0.06", "hq_assigned_rate": "0.02"},
    )
    assert call(service, "list_rates", {"partner_id": other})["items"][0]["basis"] == "approval"
