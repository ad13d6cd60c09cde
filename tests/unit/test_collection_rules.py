"""Commission on collection, the pure rules: what a receipt accrues and a refund reverses at
the rate fixed at approval, and that an order's accrual ends at exactly contract x rate
whatever the roundings of its receipts. No broker, no database."""

from __future__ import annotations

from datetime import UTC, date, datetime
from decimal import Decimal

import pytest

from services.commission import rules
from services.commission.rules import (
    cancellation_of_accrual,
    collection_total,
    completes_payment,
    payment_amounts,
    period_of_day,
    receipt_accrual,
    refund_reversal,
)
from services.commission.schemas import APPROVAL, COLLECTION, RateIn, RateOut
from services.common.errors import InvalidInput
from services.common.events import load_event
from services.common.schemas import load
from services.orders import events as orders_events

D = Decimal


def accrue(contract: str, rate: str, payments: list[str]) -> list[Decimal]:
    """The amounts of an order's payment entries, in order: ``"30000.00"`` a receipt,
    ``"-10000.00"`` a refund; the payments themselves say when the order is paid in full."""
    total = collection_total(D(contract), D(rate))
    accrued, paid, written = D("0.00"), D("0.00"), []
    for payment in payments:
        amount = D(payment)
        refund = amount < 0
        paid += amount
        amounts = payment_amounts(
            refund,
            abs(amount),
            date(2026, 12, 3),
            D(rate),
            total,
            accrued,
            completes_payment(paid, D(contract)),
        )
        accrued += amounts.amount
        assert D("0.00") <= accrued <= total
        written.append(amounts.amount)
    return written


def test_receipts_of_30000_and_70000_at_8_percent_accrue_2400_and_5600() -> None:
    assert accrue("100000.00", "0.08", ["30000.00", "70000.00"]) == [D("2400.00"), D("5600.00")]


def test_a_refund_of_10000_at_8_percent_reverses_800() -> None:
    written = accrue("100000.00", "0.08", ["30000.00", "70000.00", "-10000.00"])
    assert written == [D("2400.00"), D("5600.00"), D("-800.00")]
    assert sum(written) == D("7200.00")


def test_three_thirds_at_3_percent_accrue_1000_each_and_3000_exactly() -> None:
    written = accrue("100000.00", "0.03", ["33333.33", "33333.33", "33333.34"])
    assert written == [D("1000.00")] * 3
    assert sum(written) == D("3000.00") == collection_total(D("100000.00"), D("0.03"))


def test_three_thirds_rounded_up_reach_the_whole_and_the_last_cent_accrues_nothing() -> None:
    # 33,333.33 x 3 % = 999.9999 -> 1,000.00 three times: the whole 3,000.00 before the
    # order is paid; the cent that completes it has nothing left to take.
    written = accrue("100000.00", "0.03", ["33333.33", "33333.33", "33333.33", "0.01"])
    assert written == [D("1000.00")] * 3 + [D("0.00")]


def test_receipts_rounded_up_stop_at_the_whole_before_the_order_is_paid() -> None:
    # 1.10 x 5 % = 0.055 -> 0.06 each: nine would be 0.54, more than the whole 0.50.
    written = accrue("10.00", "0.05", ["1.10"] * 9 + ["0.10"])
    assert written == [D("0.06")] * 8 + [D("0.02"), D("0.00")]
    assert sum(written) == D("0.50")


def test_the_completing_receipt_takes_what_roundings_down_left_over() -> None:
    # 10.30 x 1.5 % = 0.1545 -> 0.15 nine times, 7.30 x 1.5 % = 0.1095 -> 0.11: 1.46 in all
    # without the remainder; the last receipt takes 1.50 - 1.35 instead.
    written = accrue("100.00", "0.015", ["10.30"] * 9 + ["7.30"])
    assert written[-1] == D("0.15")
    assert sum(written) == D("1.50")


def test_a_receipt_after_a_refund_accrues_again_up_to_the_whole() -> None:
    written = accrue("100000.00", "0.08", ["100000.00", "-10000.00", "10000.00"])
    assert written == [D("8000.00"), D("-800.00"), D("800.00")]
    assert sum(written) == D("8000.00")


def test_a_refund_never_takes_the_accrual_below_nothing() -> None:
    assert refund_reversal(D("10000.00"), D("0.08"), D("300.00")) == D("-300.00")
    assert refund_reversal(D("10000.00"), D("0.08"), D("0.00")) == D("0.00")
    # Half-up: 0.125 -> 0.13.
    assert refund_reversal(D("2.50"), D("0.05"), D("100.00")) == D("-0.13")


def test_a_receipt_rounds_half_up_and_the_completing_one_takes_the_remainder() -> None:
    assert receipt_accrual(D("2.50"), D("0.05"), D("100.00"), D("0"), False) == D("0.13")
    assert receipt_accrual(D("1.00"), D("0.05"), D("100.00"), D("99.00"), True) == D("1.00")
    assert receipt_accrual(D("1.00"), D("0.05"), D("100.00"), D("100.00"), False) == D("0.00")


def test_a_payment_counts_in_the_month_it_was_received_with_its_amount_as_the_base() -> None:
    receipt = payment_amounts(
        False, D("30000.00"), date(2026, 10, 31), D("0.08"), D("8000.00"), D("0.00"), False
    )
    assert (receipt.contract_amount, receipt.amount, receipt.period) == (
        D("30000.00"),
        D("2400.00"),
        "2026-10",
    )
    refund = payment_amounts(
        True, D("10000.00"), date(2026, 11, 1), D("0.08"), D("8000.00"), D("2400.00"), False
    )
    assert (refund.contract_amount, refund.amount, refund.period) == (
        D("-10000.00"),
        D("-800.00"),
        "2026-11",
    )
    assert period_of_day(date(2027, 1, 1)) == "2027-01"


def test_paid_in_full_when_what_is_paid_reaches_the_total() -> None:
    assert completes_payment(D("100000.00"), D("100000.00"))
    assert not completes_payment(D("99999.99"), D("100000.00"))


def test_a_cancellation_reverses_what_has_accrued_in_the_current_period() -> None:
    now = datetime(2026, 12, 31, 17, 0, tzinfo=UTC)  # 1 January in Shanghai
    reversal = cancellation_of_accrual(D("2400.00"), D("0.08"), now)
    assert (reversal.amount, reversal.period) == (D("-2400.00"), "2027-01")


def test_a_rate_rule_is_on_basis_approval_unless_it_says_collection() -> None:
    base = {"partner_type": "city_partner", "self_sourced_rate": "0.08", "hq_assigned_rate": "0.03"}
    assert load(RateIn, base)["basis"] == APPROVAL
    assert load(RateIn, base | {"basis": "collection"})["basis"] == COLLECTION
    with pytest.raises(InvalidInput) as refused:
        load(RateIn, base | {"basis": "monthly"})
    assert "basis" in refused.value.errors
    assert "basis" in RateOut().fields


def _payment(**data: object) -> dict:
    body = {
        "payment_id": 7,
        "order_id": 11,
        "partner_id": 3,
        "kind": "receipt",
        "amount": "30000.00",
        "received_on": "2026-12-01",
        "order_total": "100000.00",
        "paid_amount_after": "30000.00",
        "sequence": 1,
        "recorded_at": "2026-12-01T02:00:00Z",
    } | data
    return {"type": "payment_recorded", "data": body}


def test_the_payment_event_contract_loads_what_orders_sends_and_refuses_the_rest() -> None:
    payment = load_event(orders_events.PaymentRecorded, _payment())
    assert payment["amount"] == D("30000.00")
    assert payment["received_on"] == date(2026, 12, 1)
    for bad in ({"amount": "-1.00"}, {"kind": "chargeback"}, {"received_on": "1 Dec"}):
        with pytest.raises(InvalidInput):
            load_event(orders_events.PaymentRefunded, _payment(**bad))


def test_payments_are_applied_in_their_turn() -> None:
    assert rules.payment_turn(1, 0) == rules.NEXT
    assert rules.payment_turn(3, 2) == rules.NEXT
    assert rules.payment_turn(2, 2) == rules.APPLIED  # a redelivery
    assert rules.payment_turn(1, 2) == rules.APPLIED
    assert rules.payment_turn(4, 2) == rules.EARLY  # number 3 first
