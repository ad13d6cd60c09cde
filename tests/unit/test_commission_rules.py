"""Commission's pure rules: which rate is in force, periods on the Shanghai calendar, the
amounts, and what the payload schemas accept. No broker, no database."""

from __future__ import annotations

from datetime import UTC, date, datetime
from decimal import Decimal

import pytest

from services.commission.models import RateRule
from services.commission.rules import (
    BASIS_PARTNER,
    BASIS_TYPE,
    business_date,
    check_order_event,
    choose,
    has_ended,
    latest_effective,
    period_of,
)
from services.commission.schemas import (
    EntryListArgs,
    PayIn,
    RateIn,
    ReportArgs,
    StatementIn,
)
from services.common.errors import InvalidInput, InvalidState
from services.common.events import load_event
from services.common.money import apply_rate
from services.common.schemas import format_rate, load
from services.orders import events as orders_events


def rule(since: str, self_sourced: str = "0.10", hq: str = "0.05") -> RateRule:
    return RateRule(
        effective_from=date.fromisoformat(since),
        self_sourced_rate=Decimal(self_sourced),
        hq_assigned_rate=Decimal(hq),
    )


# -- the rate in force ------------------------------------------------------------------


def test_latest_rule_not_after_the_day_applies() -> None:
    rules = [rule("2026-01-01", "0.10"), rule("2026-06-01", "0.12"), rule("2026-09-01", "0.15")]
    assert latest_effective(rules, date(2026, 8, 31)).self_sourced_rate == Decimal("0.12")
    assert latest_effective(rules, date(2026, 9, 1)).self_sourced_rate == Decimal("0.15")
    assert latest_effective(rules, date(2025, 12, 31)) is None


def test_partner_override_wins_over_partner_type() -> None:
    found = choose([rule("2026-01-01", "0.08", "0.03")], [rule("2000-01-01")], date(2026, 5, 1))
    assert found.basis == BASIS_PARTNER
    assert found.for_source("partner") == Decimal("0.08")
    assert found.for_source("hq") == Decimal("0.03")


def test_override_not_yet_in_force_falls_back_to_partner_type() -> None:
    found = choose([rule("2026-07-01", "0.08")], [rule("2000-01-01", "0.10")], date(2026, 6, 30))
    assert found.basis == BASIS_TYPE
    assert found.for_source("partner") == Decimal("0.10")


def test_no_rule_in_force_is_an_invalid_state_not_a_zero_rate() -> None:
    with pytest.raises(InvalidState) as refused:
        choose([], [rule("2027-01-01")], date(2026, 6, 30))
    assert refused.value.code == "no_rate_in_force"


def test_unknown_customer_source_has_no_rate() -> None:
    with pytest.raises(InvalidInput):
        choose([], [rule("2000-01-01")], date(2026, 1, 1)).for_source("other")


# -- amounts ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("contract", "rate", "amount"),
    [
        ("100000.00", "0.08", "8000.00"),
        ("100000.00", "0.03", "3000.00"),
        ("33333.33", "0.03", "1000.00"),  # 999.9999 rounds half-up
        ("0.50", "0.01", "0.01"),  # 0.005 rounds up, not to even
        ("1234.56", "0.035", "43.21"),  # 43.2096
    ],
)
def test_commission_is_contract_amount_times_rate_rounded_half_up(contract, rate, amount) -> None:
    assert apply_rate(contract, rate) == Decimal(amount)


# -- the business calendar --------------------------------------------------------------


def test_period_follows_shanghai_calendar_not_utc() -> None:
    assert period_of(datetime(2026, 11, 30, 15, 59, 59, tzinfo=UTC)) == "2026-11"
    assert period_of(datetime(2026, 11, 30, 16, 0, 0, tzinfo=UTC)) == "2026-12"
    assert business_date(datetime(2026, 12, 31, 16, 0, tzinfo=UTC)) == date(2027, 1, 1)


def test_only_months_before_the_current_one_have_ended() -> None:
    now = datetime(2026, 11, 15, 12, 0, tzinfo=UTC)
    assert has_ended("2026-10", now)
    assert has_ended("2025-12", now)
    assert not has_ended("2026-11", now)
    assert not has_ended("2026-12", now)


# -- payloads ---------------------------------------------------------------------------


def test_rate_rule_payload_takes_decimal_strings_between_0_and_1() -> None:
    data = load(
        RateIn,
        {
            "partner_type": "city_partner",
            "self_sourced_rate": "0.08",
            "hq_assigned_rate": "0",
            "effective_from": "2026-11-01",
        },
    )
    assert data["self_sourced_rate"] == Decimal("0.08")
    assert data["hq_assigned_rate"] == Decimal("0")
    assert data["effective_from"] == date(2026, 11, 1)


@pytest.mark.parametrize("bad", ["1.5", "-0.01", "abc", "NaN", "Infinity", "0.1234567", True, None])
def test_rate_outside_0_to_1_or_not_a_decimal_is_refused(bad) -> None:
    with pytest.raises(InvalidInput) as refused:
        load(RateIn, {"partner_id": 3, "self_sourced_rate": bad, "hq_assigned_rate": "0.03"})
    assert "self_sourced_rate" in refused.value.errors


@pytest.mark.parametrize(
    "scope",
    [{}, {"partner_type": "city_partner", "partner_id": 3}, {"partner_id": 0}],
)
def test_rate_rule_is_for_exactly_one_partner_type_or_partner(scope) -> None:
    with pytest.raises(InvalidInput):
        load(RateIn, {**scope, "self_sourced_rate": "0.1", "hq_assigned_rate": "0.05"})


def test_rates_are_written_without_needless_zeros_but_with_two_places() -> None:
    assert format_rate(Decimal("0.080000")) == "0.08"
    assert format_rate(Decimal("0.100000")) == "0.10"
    assert format_rate(Decimal("0.035000")) == "0.035"
    assert format_rate(Decimal("1.000000")) == "1.00"
    assert format_rate(Decimal("0E-6")) == "0.00"
    assert format_rate(Decimal("-0.000000")) == "0.00"


@pytest.mark.parametrize("period", ["2026-13", "2026-1", "26-11", "2026/11", "2026-00"])
def test_period_is_a_month_written_yyyy_mm(period) -> None:
    with pytest.raises(InvalidInput) as refused:
        load(StatementIn, {"partner_id": 1, "period": period})
    assert "period" in refused.value.errors


def test_report_groups_by_known_dimensions_in_the_order_given() -> None:
    assert load(ReportArgs, {"group_by": "source,partner,source"})["group_by"] == [
        "source",
        "partner",
    ]
    assert load(ReportArgs, {})["group_by"] == ["partner", "period"]
    with pytest.raises(InvalidInput) as refused:
        load(ReportArgs, {"group_by": "partner,product"})
    assert "group_by" in refused.value.errors


def test_report_range_must_not_end_before_it_starts() -> None:
    with pytest.raises(InvalidInput) as refused:
        load(ReportArgs, {"from": "2026-11", "to": "2026-10"})
    assert "to" in refused.value.errors
    assert load(EntryListArgs, {"from": "2026-01"})["from_"] == "2026-01"


def test_payment_reference_must_not_be_blank() -> None:
    for bad in ("", "   ", "x" * 101):
        with pytest.raises(InvalidInput):
            load(PayIn, {"payment_ref": bad})
    assert load(PayIn, {"payment_ref": "BANK-2026-001"})["payment_ref"] == "BANK-2026-001"


# -- consumed events --------------------------------------------------------------------

APPROVED = {
    "order_id": 12,
    "partner_id": 3,
    "customer_id": 40,
    "customer_name": "杭州某某科技有限公司",
    "contract_no": "HT-12",
    "region_code": "330106",
    "province": "330000",
    "city": "330100",
    "customer_source": "hq",
    "total_amount": "33333.33",
    "lines": [{"product_id": 1, "sku": "A", "quantity": 1, "unit_price": "1", "amount": "1"}],
    "approved_at": "2026-11-30T16:30:00Z",
}


def approved(data: dict) -> dict:
    """The approved order as commission reads it: through orders' schema, then its checks."""
    order = load_event(orders_events.OrderApproved, {"type": "order_approved", "data": data})
    check_order_event(order, "approved_at")
    return order


def test_approved_event_is_read_tolerantly_with_exact_amount_and_aware_time() -> None:
    data = approved(APPROVED | {"a_field_added_later": True})
    assert data["total_amount"] == Decimal("33333.33")
    assert data["approved_at"] == datetime(2026, 11, 30, 16, 30, tzinfo=UTC)
    assert "a_field_added_later" not in data  # producers may add fields; they are ignored


@pytest.mark.parametrize(
    "change",
    [
        {"total_amount": "-1.00"},
        {"customer_source": "web"},
        {"approved_at": "2026-11-30T16:30:00"},  # no zone: ambiguous, refused
        {"order_id": "12"},
    ],
)
def test_approved_event_that_cannot_be_trusted_is_refused(change) -> None:
    with pytest.raises(InvalidInput):
        approved(APPROVED | change)


CANCELLED = {
    "order_id": 12,
    "partner_id": 3,
    "customer_id": 40,
    "contract_no": "HT-12",
    "was_approved": True,
    "approved_at": "2026-11-30T16:30:00Z",
    "total_amount": "33333.33",
    "customer_source": "hq",
    "reason": "客户取消",
    "cancelled_at": "2026-12-01T02:00:00Z",
}


@pytest.mark.parametrize(
    "change",
    [
        {"total_amount": "-1.00"},
        {"customer_source": "web"},
        {"cancelled_at": "2026-12-01T02:00:00"},
        {"approved_at": "2026-11-30T16:30:00"},
    ],
)
def test_cancelled_event_that_cannot_be_trusted_is_refused(change) -> None:
    order = load_event(orders_events.OrderCancelled, {"type": "order_cancelled", "data": CANCELLED})
    check_order_event(order, "approved_at", "cancelled_at")
    with pytest.raises(InvalidInput):
        changed = load_event(
            orders_events.OrderCancelled, {"type": "order_cancelled", "data": CANCELLED | change}
        )
        check_order_event(changed, "approved_at", "cancelled_at")
