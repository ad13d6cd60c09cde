"""Rules of dealer orders without I/O: amounts, discounts, regions, states, participants."""

from __future__ import annotations

from datetime import UTC, date, datetime
from decimal import Decimal

import pytest

from services.common.approval import FlowInstance, parse_flow
from services.common.context import Caller
from services.common.errors import Conflict, Forbidden, InvalidInput, InvalidState
from services.common.schemas import format_rate
from services.orders import flows, rules
from services.orders.periods import utc_bounds


def test_line_amount_is_exact() -> None:
    assert rules.line_amount(3, Decimal("33333.33")) == Decimal("99999.99")
    assert rules.line_amount(7, Decimal("0.10")) == Decimal("0.70")


def test_totals_sum_the_lines_exactly_without_float_drift() -> None:
    lines = [(1, Decimal("0.20"), Decimal("0.10"))] * 10 + [(3, Decimal("0.30"), Decimal("0.20"))]
    totals = rules.totals(lines)
    assert totals.total_amount == Decimal("1.60")
    assert str(totals.total_amount) == "1.60"
    assert totals.total_quantity == 13


def test_discount_is_one_minus_unit_price_over_list_price() -> None:
    assert rules.discount(Decimal("1000.00"), Decimal("750.00")) == Decimal("0.25")
    assert rules.discount(Decimal("100.00"), Decimal("110.00")) == Decimal("-0.10")
    with pytest.raises(ValueError):
        rules.discount(Decimal("0"), Decimal("1"))


def test_max_discount_is_never_negative_and_rounds_up_to_six_places() -> None:
    assert rules.max_discount([(Decimal("100"), Decimal("120"))]) == Decimal("0")
    assert rules.max_discount([]) == Decimal("0")
    # a cent above a list price of 20000.00 is -0.0000005, rounded up to -0.000000:
    # shown as no discount, never as "-0.00"
    above = rules.max_discount([(Decimal("20000.00"), Decimal("20000.01"))])
    assert not above.is_signed() and format_rate(above) == "0.00"
    assert format_rate(rules.shown_discount(Decimal("20000.00"), Decimal("20000.01"))) == "0.00"
    # 1 - 79999.99 / 99999.99 = 0.2000000020...: over 20 %, and kept as over 20 %
    kept = rules.max_discount([(Decimal("99999.99"), Decimal("79999.99"))])
    assert kept == Decimal("0.200001")
    assert rules.max_discount(
        [(Decimal("1000"), Decimal("800")), (Decimal("3"), Decimal("2"))]
    ) == (Decimal("0.333334"))


DEFAULT = parse_flow(flows.DEFAULT_STEPS, flows.SUBJECT_FIELDS)


@pytest.mark.parametrize(
    ("total", "lines", "steps"),
    [
        ("120000.00", [], ["sales", "finance", "director"]),
        ("100000.00", [], ["sales", "finance", "director"]),
        ("99999.99", [], ["sales", "finance"]),
        ("5000.00", [], ["sales", "finance"]),
        ("5000.00", [("1000.00", "800.00")], ["sales", "finance"]),
        ("5000.00", [("1000.00", "799.99")], ["sales", "finance", "director"]),
        ("5000.00", [("99999.99", "79999.99")], ["sales", "finance", "director"]),
    ],
)
def test_default_flow_adds_the_director_for_big_or_discounted_orders(total, lines, steps) -> None:
    subject = {
        "total_amount": Decimal(total),
        "max_discount": rules.max_discount((Decimal(a), Decimal(b)) for a, b in lines),
    }
    instance = FlowInstance.start(
        DEFAULT, subject, submitted_by=1, started_at=datetime(2026, 11, 28, tzinfo=UTC)
    )
    assert [s.definition.name for s in instance.steps] == steps


@pytest.mark.parametrize(
    ("code", "province", "city"),
    [
        ("330106", "330000", "330100"),
        ("330100", "330000", "330100"),
        ("330000", "330000", None),
        ("429004", "420000", "429000"),
    ],
)
def test_region_snapshot_keeps_the_province_and_city_of_the_customer(code, province, city) -> None:
    snapshot = rules.region_snapshot(code)
    assert (snapshot.region_code, snapshot.province, snapshot.city) == (code, province, city)


@pytest.mark.parametrize("code", [None, "", "33010", "330006", 330106])
def test_a_customer_without_a_valid_region_cannot_be_ordered_for(code) -> None:
    with pytest.raises(InvalidInput) as error:
        rules.region_snapshot(code)
    assert error.value.code == "customer_region_invalid"


@pytest.mark.parametrize(
    ("status", "action"),
    [
        ("draft", "approve"),
        ("draft", "complete"),
        ("submitted", "submit"),
        ("submitted", "update"),
        ("approved", "submit"),
        ("approved", "reject"),
        ("rejected", "approve"),
        ("completed", "cancel"),
        ("cancelled", "cancel"),
        ("cancelled", "submit"),
    ],
)
def test_actions_in_the_wrong_state_are_refused(status, action) -> None:
    with pytest.raises(InvalidState):
        rules.check_transition(status, action)


@pytest.mark.parametrize(
    ("status", "action"),
    [
        ("draft", "submit"),
        ("rejected", "submit"),
        ("rejected", "update"),
        ("submitted", "approve"),
        ("submitted", "cancel"),
        ("approved", "complete"),
        ("approved", "cancel"),
    ],
)
def test_actions_in_their_state_are_allowed(status, action) -> None:
    rules.check_transition(status, action)


def test_participants_are_everyone_involved_but_the_author() -> None:
    assert rules.participants(7, [7, 101, None, 102], [101, 9], author_id=9) == [7, 101, 102]
    assert rules.participants(None, [], [], author_id=1) == []


def test_date_range_is_whole_days_in_shanghai() -> None:
    start, end = utc_bounds(date(2026, 3, 1), date(2026, 3, 31))
    assert start.isoformat() == "2026-02-28T16:00:00+00:00"
    assert end.isoformat() == "2026-03-31T16:00:00+00:00"
    assert utc_bounds(None, None) == (None, None)


# -- who may act ------------------------------------------------------------------------

OWNER = Caller(
    user_id=5, partner_id=7, partner_ids=frozenset({7}), permissions=frozenset({"order.create"})
)
PARENT = Caller(
    user_id=6, partner_id=1, partner_ids=frozenset({1, 7}), permissions=frozenset({"order.create"})
)
HQ_FINANCE = Caller(user_id=9, permissions=frozenset({"order.cancel"}))


def test_only_the_ordering_partner_acts_on_its_order_not_a_parent_that_sees_it() -> None:
    rules.check_owner(OWNER, 7, "submit")
    for caller in (PARENT, HQ_FINANCE):
        with pytest.raises(Forbidden):
            rules.check_owner(caller, 7, "submit")


def test_orders_are_placed_by_a_partner_user_with_order_create() -> None:
    assert rules.check_can_order(OWNER) == 7
    for caller in (HQ_FINANCE, Caller(user_id=5, partner_id=7, partner_ids=frozenset({7}))):
        with pytest.raises(Forbidden):
            rules.check_can_order(caller)


def test_orders_are_approved_and_rejected_by_hq_people_while_in_approval() -> None:
    assert rules.check_can_decide(HQ_FINANCE, "submitted", "approve") == 9
    with pytest.raises(Forbidden, match="approved by headquarters"):
        rules.check_can_decide(OWNER, "submitted", "approve")
    with pytest.raises(Forbidden):
        rules.check_can_decide(Caller.system_caller("test"), "submitted", "reject")
    with pytest.raises(InvalidState):
        rules.check_can_decide(HQ_FINANCE, "approved", "reject")


def test_the_owner_cancels_before_approval_and_hq_after_it_with_a_reason() -> None:
    assert rules.check_can_cancel(OWNER, "submitted", 7, None) is False
    with pytest.raises(Forbidden):
        rules.check_can_cancel(HQ_FINANCE, "draft", 7, "no")
    assert rules.check_can_cancel(HQ_FINANCE, "approved", 7, "客户放弃") is True
    with pytest.raises(InvalidInput) as error:
        rules.check_can_cancel(HQ_FINANCE, "approved", 7, "  ")
    assert "reason" in error.value.errors
    with pytest.raises(Forbidden):
        rules.check_can_cancel(OWNER, "approved", 7, "no")
    with pytest.raises(InvalidState):
        rules.check_can_cancel(HQ_FINANCE, "completed", 7, "no")


@pytest.mark.parametrize(
    "answer",
    [
        None,
        {"owner_partner_id": 8, "status": "protected"},
        {"owner_partner_id": 7, "status": "pending"},
    ],
)
def test_a_customer_not_protected_for_the_partner_is_not_owned(answer) -> None:
    with pytest.raises(InvalidInput) as error:
        rules.check_owned_customer(answer, 7)
    assert error.value.code == "customer_not_owned"


def test_an_order_total_beyond_an_amount_column_is_refused() -> None:
    rules.check_total_fits([{"quantity": 1, "unit_price": Decimal("999999999999.99")}])
    with pytest.raises(InvalidInput) as error:
        rules.check_total_fits([{"quantity": 2, "unit_price": Decimal("999999999999.99")}])
    assert "lines" in error.value.errors


def test_no_order_of_a_terminated_partner_is_approved_while_its_handover_runs() -> None:
    with pytest.raises(Conflict) as refused:
        rules.check_partner_not_terminated("terminated")
    assert refused.value.code == "partner_not_active"
    for status in ("active", "suspended", None):
        rules.check_partner_not_terminated(status)
