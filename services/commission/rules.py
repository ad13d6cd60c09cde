"""The rules of commission, without a database or a peer: the business calendar, which rate
is in force, the amount of an entry and of its reversal, and the moves of a statement.

- Periods are months on the Asia/Shanghai calendar: an order approved at
  2026-11-30T17:00:00Z belongs to December (01:00 on 1 December in Shanghai); rate dates
  follow the same calendar, never UTC's.
- The rate in force for a partner on a day is its override with the latest
  ``effective_from`` on or before that day, or failing one, its partner type's rule chosen
  the same way.
- An entry is the contract amount x the rate, rounded half-up to 0.01 yuan; its reversal
  negates the amounts, in the entry's own period unless the entry is on a statement.
- On basis ``collection`` the rate is fixed at approval and each receipt accrues receipt x
  rate (half-up) in the month it was received, a refund reverses refund x rate; what an
  order accrues stays between 0 and contract x rate, and the receipt that completes the
  payment takes what remains, so that a paid order accrues exactly contract x rate.
- A statement goes ``issued`` -> ``confirmed`` (by the partner itself) -> ``paid`` (by HQ);
  any other move is ``invalid_state``.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal
from typing import Any

from services.commission.models import RateRule, Statement
from services.commission.schemas import (
    CONFIRMED,
    HQ_SOURCED,
    ISSUED,
    PAID,
    PARTNER_SOURCED,
    SOURCES,
)
from services.common.context import Caller
from services.common.errors import Conflict, Forbidden, InvalidInput, InvalidState
from services.common.money import MAX_MONEY, apply_rate, fits_money_column, money
from services.common.timeutil import BUSINESS_TZ, as_utc

#: On what basis a rate applies: the partner's own override, or its partner type's rule.
BASIS_PARTNER, BASIS_TYPE = "partner", "partner_type"

# -- the business calendar ----------------------------------------------------------------


def business_date(moment: datetime) -> date:
    """The calendar date of ``moment`` in Asia/Shanghai."""
    return as_utc(moment).astimezone(BUSINESS_TZ).date()


def period_of(moment: datetime) -> str:
    """The period (``"2026-11"``) ``moment`` falls in, in Asia/Shanghai."""
    return business_date(moment).strftime("%Y-%m")


def has_ended(period: str, now: datetime) -> bool:
    """True when ``period`` lies wholly before the current month (Asia/Shanghai)."""
    return period < period_of(now)


# -- rates ----------------------------------------------------------------------------------


def type_scope(partner_type: str) -> str:
    """The scope of a partner type's rules."""
    return f"type:{partner_type}"


def partner_scope(partner_id: int) -> str:
    """The scope of one partner's overrides."""
    return f"partner:{partner_id}"


@dataclass(frozen=True)
class RateInForce:
    """The rule that applies, and on what basis (an override or the partner type)."""

    rule: RateRule
    basis: str

    def for_source(self, source: str) -> Decimal:
        """The rate for a customer of ``source``: ``partner`` (self-sourced) or ``hq``."""
        if source == PARTNER_SOURCED:
            return self.rule.self_sourced_rate
        if source == HQ_SOURCED:
            return self.rule.hq_assigned_rate
        raise InvalidInput(f"unknown customer source {source!r}", errors={"source": ["unknown"]})


def latest_effective(rules: Iterable[RateRule], on: date) -> RateRule | None:
    """Of ``rules`` (one scope), the one with the latest ``effective_from`` not after ``on``."""
    applicable = [rule for rule in rules if rule.effective_from <= on]
    return max(applicable, key=lambda rule: rule.effective_from, default=None)


def choose(overrides: Iterable[RateRule], type_rules: Iterable[RateRule], on: date) -> RateInForce:
    """The partner's override in force on ``on``, else its type's rule; InvalidState
    ``no_rate_in_force`` when neither has one (the event waits for HQ to add a rule)."""
    override = latest_effective(overrides, on)
    if override is not None:
        return RateInForce(override, BASIS_PARTNER)
    by_type = latest_effective(type_rules, on)
    if by_type is not None:
        return RateInForce(by_type, BASIS_TYPE)
    raise InvalidState(f"no commission rate is in force on {on.isoformat()}", "no_rate_in_force")


def check_known_partner(exists: bool) -> None:
    """A rate for a partner the partners service does not know is refused
    (422 ``unknown_partner``): nothing would ever use it."""
    if not exists:
        raise InvalidInput(
            "unknown partner", "unknown_partner", {"partner_id": ["unknown partner"]}
        )


def check_known_type(partner_type: str, known_types: Iterable[str]) -> None:
    """A rate for a partner type the partners service does not know is refused
    (422 ``unknown_partner_type``)."""
    if partner_type not in set(known_types):
        raise InvalidInput(
            "unknown partner type",
            "unknown_partner_type",
            {"partner_type": [f"unknown partner type {partner_type}"]},
        )


# -- entries ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class Amounts:
    """What an entry says of money: the contract amount, the rate, the commission, and the
    period it counts in."""

    contract_amount: Decimal
    rate: Decimal
    amount: Decimal
    period: str


def commission_of(contract_amount: object, rate: Decimal, approved_at: datetime) -> Amounts:
    """The commission of an order approved at ``approved_at``: ``contract_amount`` x
    ``rate``, rounded half-up to 0.01 yuan, in the approval's month."""
    contract = money(contract_amount)
    return Amounts(contract, rate, apply_rate(contract, rate), period_of(approved_at))


def reversal_of(original: Amounts, settled: bool, now: datetime) -> Amounts:
    """The undoing of an entry: negated amounts at the same rate, in the entry's own period,
    or in the current one when the entry is already on a statement (``settled``), whose
    period is closed."""
    return Amounts(
        -original.contract_amount,
        original.rate,
        -original.amount,
        period_of(now) if settled else original.period,
    )


def check_order_event(order: Mapping[str, Any], *times: str) -> None:
    """An orders event commission can pay on: a total that is not negative, a customer
    source it has rates for, and ``times`` that say their zone; else InvalidInput (the
    event is parked with the reason, never guessed at)."""
    errors: dict[str, list[str]] = {}
    total = order["total_amount"]
    if total is not None and total < 0:
        errors["total_amount"] = ["must not be negative"]
    source = order["customer_source"]
    if source is not None and source not in SOURCES:
        errors["customer_source"] = [f"one of {', '.join(SOURCES)}"]
    for key in times:
        if order[key] is not None and order[key].tzinfo is None:
            errors[key] = ["a time with its zone"]
    if errors:
        raise InvalidInput("the orders event cannot be paid on", errors=errors)


# -- commission on collection ------------------------------------------------------------------


def period_of_day(day: date) -> str:
    """The period (``"2026-11"``) of a calendar date (a receipt's ``received_on``)."""
    return day.strftime("%Y-%m")


def collection_total(contract_amount: object, rate: Decimal) -> Decimal:
    """The most an order on basis ``collection`` accrues: contract x rate, half-up."""
    return apply_rate(contract_amount, rate)


def receipt_accrual(
    receipt: Decimal, rate: Decimal, total: Decimal, accrued: Decimal, completes: bool
) -> Decimal:
    """What a receipt accrues: ``receipt`` x ``rate`` rounded half-up, but never beyond what
    remains of ``total`` after ``accrued``; the receipt that ``completes`` the payment takes
    exactly what remains (the roundings of the earlier receipts even out)."""
    remains = max(total - accrued, Decimal("0.00"))
    if completes:
        return remains
    return min(apply_rate(receipt, rate), remains)


def refund_reversal(refund: Decimal, rate: Decimal, accrued: Decimal) -> Decimal:
    """What a refund reverses (negative or zero): ``refund`` x ``rate`` rounded half-up,
    never more than has been ``accrued``."""
    return -min(apply_rate(refund, rate), max(accrued, Decimal("0.00")))


#: Where a payment stands against the ones of its order applied so far.
APPLIED, NEXT, EARLY = "applied", "next", "early"


def payment_turn(sequence: int, applied: int) -> str:
    """``NEXT`` for the payment that follows the ``applied`` ones, ``APPLIED`` for one of
    them (a redelivery), ``EARLY`` for one that must wait for those before it (they travel
    on their own messages, and may come late or out of order)."""
    if sequence <= applied:
        return APPLIED
    return NEXT if sequence == applied + 1 else EARLY


def completes_payment(paid_amount_after: Decimal, order_total: Decimal) -> bool:
    """Whether a receipt leaves the order paid in full."""
    return money(paid_amount_after) >= money(order_total)


def payment_amounts(
    refund: bool,
    payment: Decimal,
    received_on: date,
    rate: Decimal,
    total: Decimal,
    accrued: Decimal,
    completes: bool,
) -> Amounts:
    """The entry of a receipt (or a ``refund``) on an order on basis ``collection``: the
    payment as its contract amount (negative for a refund), the fixed rate, what it accrues
    or reverses, in the month it was received."""
    if refund:
        amount = refund_reversal(payment, rate, accrued)
        return Amounts(-money(payment), rate, amount, period_of_day(received_on))
    amount = receipt_accrual(payment, rate, total, accrued, completes)
    return Amounts(money(payment), rate, amount, period_of_day(received_on))


def cancellation_of_accrual(accrued: Decimal, rate: Decimal, now: datetime) -> Amounts:
    """The reversal of what an order on basis ``collection`` has accrued when it is
    cancelled: the accrued amount negated, in the current period (its receipts' periods may
    be settled already). The contract amount it stands for is not known: zero."""
    return Amounts(Decimal("0.00"), rate, -accrued, period_of(now))


#: What a cancellation must carry to write the approval's entry when that is not known yet.
APPROVAL_FIELDS = ("approved_at", "total_amount", "customer_source")


def check_approval_known(order: dict) -> None:
    """A cancelled approved order whose approval is not recorded yet must carry the
    approval's data; else InvalidInput (the event is parked, not guessed)."""
    missing = [key for key in APPROVAL_FIELDS if order[key] is None]
    if missing:
        raise InvalidInput(
            "the cancelled order's approval is not known",
            errors={key: ["required when was_approved is true"] for key in missing},
        )


# -- statements -------------------------------------------------------------------------------


def check_period_ended(period: str, now: datetime) -> None:
    """Only a month that has ended is settled (422 ``period_not_ended``)."""
    if not has_ended(period, now):
        raise InvalidInput(
            f"the period {period} has not ended yet",
            "period_not_ended",
            {"period": ["settle a month once it has ended"]},
        )


def statement_total(partner_id: int, period: str, amounts: list[Decimal]) -> Decimal:
    """The total of a statement of ``amounts``: 409 ``nothing_to_settle`` when there are
    none, 422 ``statement_too_large`` when no money column holds the total."""
    if not amounts:
        raise Conflict(
            f"partner {partner_id} has no unsettled commission in {period}", "nothing_to_settle"
        )
    total = sum(amounts, Decimal("0.00"))
    if not fits_money_column(total):
        raise InvalidInput(
            f"partner {partner_id}'s commission of {period} is more than one statement holds",
            "statement_too_large",
            {"period": [f"the total is more than {MAX_MONEY}"]},
        )
    return total


def _require_status(statement: Statement, expected: str, action: str) -> None:
    if statement.status != expected:
        raise InvalidState(
            f"statement {statement.id} is {statement.status}; only a statement that is "
            f"{expected} can be {action}"
        )


def confirm(statement: Statement, caller: Caller, now: datetime) -> None:
    """The partner the statement is for confirms it while it is issued (Forbidden for
    anyone else, even a parent that sees it; InvalidState from any other status)."""
    if caller.partner_id != statement.partner_id:
        raise Forbidden("only the partner the statement is for may confirm it")
    _require_status(statement, ISSUED, "confirmed")
    statement.status, statement.confirmed_by, statement.confirmed_at = (
        CONFIRMED,
        caller.user_id,
        now,
    )


def pay(statement: Statement, caller: Caller, payment_ref: str, now: datetime) -> None:
    """HQ marks a confirmed statement paid, with the payment's reference (InvalidState from
    any other status)."""
    _require_status(statement, CONFIRMED, "paid")
    statement.status, statement.payment_ref = PAID, payment_ref.strip()
    statement.paid_by, statement.paid_at = caller.user_id, now
