"""The pure rules of payments received (回款), payment plans and credit limits
(``services.orders.rules``), without any I/O."""

from __future__ import annotations

from datetime import date
from decimal import Decimal

import pytest

from services.common.errors import AppError, Conflict, InvalidInput, InvalidState
from services.common.schemas import load
from services.orders import rules
from services.orders.schemas import PaymentIn, PaymentPlanIn

D = Decimal
APPROVED_ON = date(2026, 12, 1)
TOTAL = D("100000.00")


def _code(error: AppError) -> str:
    return error.code


# -- the order's payment status -----------------------------------------------------------


@pytest.mark.parametrize(
    ("paid", "status"),
    [("0.00", "unpaid"), ("0.01", "partial"), ("99999.99", "partial"), ("100000.00", "paid")],
)
def test_an_owed_order_is_unpaid_partial_or_paid_by_what_it_was_paid(paid, status) -> None:
    assert rules.payment_status("approved", TOTAL, D(paid)) == status
    assert rules.payment_status("completed", TOTAL, D(paid)) == status
    assert rules.outstanding("approved", TOTAL, D(paid)) == TOTAL - D(paid)


@pytest.mark.parametrize("status", ["draft", "submitted", "rejected", "cancelled"])
def test_an_order_not_approved_has_no_payment_status_nor_outstanding(status) -> None:
    assert rules.payment_status(status, TOTAL, D(0)) is None
    assert rules.outstanding(status, TOTAL, D(0)) is None


@pytest.mark.parametrize("status", ["draft", "submitted", "rejected", "cancelled"])
def test_payments_and_plans_are_refused_before_approval_and_after_cancellation(status) -> None:
    with pytest.raises(InvalidState):
        rules.check_payable(status)


@pytest.mark.parametrize("status", ["approved", "completed"])
def test_approved_and_completed_orders_take_payments(status) -> None:
    rules.check_payable(status)


# -- receipts and refunds -----------------------------------------------------------------


def test_a_receipt_up_to_what_is_outstanding_is_counted() -> None:
    assert rules.paid_after("receipt", TOTAL, D("30000.00"), D("70000.00")) == TOTAL
    assert rules.paid_after("receipt", TOTAL, D(0), D("0.01")) == D("0.01")


def test_a_receipt_beyond_what_is_outstanding_is_overpayment_naming_what_is_due() -> None:
    with pytest.raises(InvalidInput) as raised:
        rules.paid_after("receipt", TOTAL, D("30000.00"), D("70000.01"))
    assert raised.value.code == "overpayment"
    assert raised.value.errors == {"amount": ["at most 70000.00"]}
    with pytest.raises(InvalidInput):
        rules.paid_after("receipt", TOTAL, TOTAL, D("0.01"))


def test_a_refund_up_to_what_was_received_is_counted() -> None:
    assert rules.paid_after("refund", TOTAL, TOTAL, D("10000.00")) == D("90000.00")
    assert rules.paid_after("refund", TOTAL, D("10.00"), D("10.00")) == D("0.00")


def test_a_refund_beyond_what_was_received_is_overrefund() -> None:
    with pytest.raises(InvalidInput) as raised:
        rules.paid_after("refund", TOTAL, D("90000.00"), D("90000.01"))
    assert raised.value.code == "overrefund"
    assert raised.value.errors == {"amount": ["at most 90000.00"]}
    with pytest.raises(InvalidInput):
        rules.paid_after("refund", TOTAL, D(0), D("0.01"))


def test_money_is_received_on_a_day_between_the_approval_and_today() -> None:
    today = date(2026, 12, 3)
    rules.check_received_on(APPROVED_ON, APPROVED_ON, today)
    rules.check_received_on(today, APPROVED_ON, today)
    with pytest.raises(InvalidInput) as future:
        rules.check_received_on(date(2026, 12, 4), APPROVED_ON, today)
    assert set(future.value.errors) == {"received_on"}
    with pytest.raises(InvalidInput) as early:
        rules.check_received_on(date(2026, 11, 30), APPROVED_ON, today)
    assert set(early.value.errors) == {"received_on"}


@pytest.mark.parametrize(
    "amount",
    ["0", "0.00", "-1.00", "1.001", "NaN", "Infinity", "1e-3", "1000000000000.00", 1.5, True],
)
def test_a_payments_amount_is_positive_with_two_places_within_an_amount_column(amount) -> None:
    body = {"amount": amount, "received_on": "2026-12-01", "method": "cash"}
    with pytest.raises(InvalidInput) as raised:
        load(PaymentIn, body)
    assert "amount" in raised.value.errors


def test_a_payment_is_a_receipt_unless_it_says_refund_and_names_a_known_method() -> None:
    loaded = load(PaymentIn, {"amount": "1.50", "received_on": "2026-12-01", "method": "check"})
    assert (loaded["kind"], loaded["amount"], loaded["reference"]) == ("receipt", D("1.50"), None)
    with pytest.raises(InvalidInput):
        load(PaymentIn, {"amount": "1", "received_on": "2026-12-01", "method": "barter"})
    with pytest.raises(InvalidInput):
        load(PaymentIn, {"amount": "1", "received_on": "2026-12-01", "method": "cash", "kind": "x"})


# -- the payment plan ---------------------------------------------------------------------


def test_the_default_plan_is_the_whole_total_due_30_days_after_the_approval() -> None:
    assert rules.default_plan(TOTAL, APPROVED_ON) == [
        {"due_date": date(2026, 12, 31), "amount": TOTAL}
    ]


def test_a_plan_summing_to_the_total_is_kept_in_order_of_due_dates() -> None:
    later = {"due_date": date(2027, 3, 1), "amount": D("70000.00")}
    first = {"due_date": date(2026, 12, 15), "amount": D("30000.00")}
    assert rules.check_plan([later, first], TOTAL, APPROVED_ON) == [first, later]


@pytest.mark.parametrize("amounts", [["30000.00", "69999.99"], ["30000.00", "70000.01"], ["1"]])
def test_a_plan_not_summing_to_the_total_is_plan_total_mismatch(amounts) -> None:
    plan = [{"due_date": date(2027, 1, 1), "amount": D(a)} for a in amounts]
    with pytest.raises(InvalidInput) as raised:
        rules.check_plan(plan, TOTAL, APPROVED_ON)
    assert raised.value.code == "plan_total_mismatch"


def test_an_installment_due_before_the_approval_is_refused() -> None:
    plan = [
        {"due_date": date(2026, 11, 30), "amount": D("1.00")},
        {"due_date": date(2027, 1, 1), "amount": TOTAL - 1},
    ]
    with pytest.raises(InvalidInput) as raised:
        rules.check_plan(plan, TOTAL, APPROVED_ON)
    assert set(raised.value.errors) == {"installments"}


def test_a_plan_has_one_to_60_installments() -> None:
    one = {"due_date": "2027-01-01", "amount": "1.00"}
    assert len(load(PaymentPlanIn, {"installments": [one] * 60})["installments"]) == 60
    for count in (0, 61):
        with pytest.raises(InvalidInput):
            load(PaymentPlanIn, {"installments": [one] * count})


# -- cancelling a paid order --------------------------------------------------------------


def test_an_order_paid_anything_is_refunded_before_it_is_cancelled() -> None:
    rules.check_no_receipts(D("0.00"))
    with pytest.raises(Conflict) as raised:
        rules.check_no_receipts(D("0.01"))
    assert raised.value.code == "refund_first"


# -- credit -------------------------------------------------------------------------------


def test_without_a_limit_any_order_is_submitted() -> None:
    rules.check_credit(None, D("999999999999.99"), D("999999999999.99"))
    assert rules.available_credit(None, D("5.00")) is None


def test_an_order_up_to_the_available_credit_is_submitted() -> None:
    rules.check_credit(D("100000.00"), D("40000.00"), D("60000.00"))
    assert rules.available_credit(D("100000.00"), D("40000.00")) == D("60000.00")


def test_an_order_beyond_the_available_credit_is_refused_naming_what_is_available() -> None:
    with pytest.raises(InvalidInput) as raised:
        rules.check_credit(D("100000.00"), D("40000.00"), D("60000.01"))
    assert _code(raised.value) == "credit_limit_exceeded"
    assert raised.value.errors == {"available": ["60000.00"]}


def test_a_partner_owing_more_than_its_limit_has_none_available() -> None:
    assert rules.available_credit(D("100.00"), D("150.00")) == D("0.00")
    with pytest.raises(InvalidInput) as raised:
        rules.check_credit(D("100.00"), D("150.00"), D("0.01"))
    assert raised.value.errors == {"available": ["0.00"]}
