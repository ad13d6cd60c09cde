"""Pure rules of dealer orders: amounts, discounts, the customer's region, the state machine,
who may act on which order (given the caller and the order's values), who takes part.
No database, no Nameko, no peer: what they promise is tested without I/O.

Who may do what:

- a partner user with ``order.create`` orders for its own partner; that partner's users
  with ``order.create`` (the owner) revise, submit and, before approval, cancel;
- HQ users holding the current step's permission approve or reject (the approval engine,
  ``services.common.approval``, checks the step; an ``all`` step needs each named approver);
- HQ ``order.fulfil`` completes an approved order; HQ ``order.cancel`` cancels it;
- whoever sees the order (its partner's scope, and HQ) reads it and comments on it.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date, timedelta
from decimal import ROUND_CEILING, Decimal
from typing import TYPE_CHECKING, Any

from services.common import regions
from services.common.errors import Conflict, Forbidden, InvalidInput, InvalidState
from services.common.money import MAX_MONEY, fits_money_column, money, to_decimal
from services.common.schemas import RATE_PLACES
from services.orders.schemas import (
    APPROVED,
    COMPLETED,
    DRAFT,
    PAID,
    PARTIAL,
    RECEIPT,
    REFUND,
    REJECTED,
    SUBMITTED,
    UNPAID,
)

if TYPE_CHECKING:
    from services.common.context import Caller

ZERO = Decimal(0)
#: Discounts are kept to six places, rounded up: a threshold of up to six places (such as
#: 0.20) then compares the same on the kept value as on the exact one.
DISCOUNT_PLACES = Decimal(1).scaleb(-RATE_PLACES)


def line_amount(quantity: int, unit_price: Decimal) -> Decimal:
    """``quantity x unit_price`` in yuan (exact: the price has two places)."""
    return money(to_decimal(quantity) * to_decimal(unit_price))


def discount(list_price: Decimal, unit_price: Decimal) -> Decimal:
    """``1 - unit_price / list_price``: 0.25 is 25 % off; negative above list price."""
    list_price = to_decimal(list_price)
    if list_price <= ZERO:
        raise ValueError("a list price is positive")
    return Decimal(1) - to_decimal(unit_price) / list_price


def shown_discount(list_price: Decimal, unit_price: Decimal) -> Decimal:
    """A line's discount as stored and shown: rounded up to six places (see
    ``DISCOUNT_PLACES``), so that a discount a hair over a limit never shows as the limit."""
    return discount(list_price, unit_price).quantize(DISCOUNT_PLACES, rounding=ROUND_CEILING)


def max_discount(pairs: Iterable[tuple[Decimal, Decimal]]) -> Decimal:
    """The largest shown discount of ``(list_price, unit_price)`` pairs, never below 0."""
    largest = max((shown_discount(lp, up) for lp, up in pairs), default=ZERO)
    return ZERO if largest <= ZERO else largest


@dataclass(frozen=True)
class Totals:
    total_amount: Decimal
    total_quantity: int
    max_discount: Decimal


def totals(lines: Iterable[tuple[int, Decimal, Decimal]]) -> Totals:
    """Totals of ``(quantity, list_price, unit_price)`` lines: the exact sum of the line
    amounts, the quantity, and the largest discount."""
    lines = list(lines)
    return Totals(
        total_amount=money(sum((line_amount(q, up) for q, _, up in lines), ZERO)),
        total_quantity=sum(q for q, _, _ in lines),
        max_discount=max_discount((lp, up) for _, lp, up in lines),
    )


@dataclass(frozen=True)
class RegionSnapshot:
    region_code: str
    province: str
    city: str | None


def region_snapshot(region_code: object) -> RegionSnapshot:
    """The customer's region with the province and city it lies in (a district of 杭州
    ``330106`` -> province ``330000``, city ``330100``; a city is its own city; a
    province has no city)."""
    if not regions.is_region_code(region_code):
        raise InvalidInput(
            "the customer has no valid region code",
            "customer_region_invalid",
            {"customer_id": [f"region code {region_code!r} is not valid"]},
        )
    level = regions.region_level(region_code)
    above = regions.ancestors(region_code)
    if level == regions.PROVINCE:
        return RegionSnapshot(region_code, region_code, None)
    if level == regions.CITY:
        return RegionSnapshot(region_code, above[0], region_code)
    return RegionSnapshot(region_code, above[0], above[1])


# -- the state machine ------------------------------------------------------------------

#: action -> the statuses it may start from
ALLOWED_FROM: dict[str, frozenset[str]] = {
    "update": frozenset({DRAFT, REJECTED}),
    "submit": frozenset({DRAFT, REJECTED}),
    "approve": frozenset({SUBMITTED}),
    "reject": frozenset({SUBMITTED}),
    "complete": frozenset({APPROVED}),
    "cancel": frozenset({DRAFT, SUBMITTED, REJECTED, APPROVED}),
}


def check_transition(status: str, action: str) -> None:
    """InvalidState unless ``action`` may be done on an order that is ``status``."""
    if status not in ALLOWED_FROM[action]:
        raise InvalidState(f"cannot {action} an order that is {status}")


def check_total_fits(lines: Iterable[dict]) -> None:
    """InvalidInput unless the lines' total (``quantity`` x ``unit_price``) fits an amount
    column; the payload schemas refuse such lines already, the column must never see one."""
    total = sum(line_amount(line["quantity"], line["unit_price"]) for line in lines)
    if not fits_money_column(total):
        raise InvalidInput(
            "the order's total is more than an amount can be",
            errors={"lines": [f"the order's total is more than {MAX_MONEY}"]},
        )


# -- who may act ------------------------------------------------------------------------


def person(caller: Caller) -> int:
    """The acting user's id; Forbidden when the platform (no user) acts."""
    if caller.user_id is None:
        raise Forbidden("a person does this, not the platform")
    return caller.user_id


def check_can_order(caller: Caller) -> int:
    """A partner's user with ``order.create`` orders (for its own partner); the partner's id."""
    caller.require("order.create")
    if caller.partner_id is None:
        raise Forbidden("orders are placed by partners")
    person(caller)
    return caller.partner_id


def check_owner(caller: Caller, partner_id: int, action: str) -> None:
    """The ordering partner's users with ``order.create`` act on their orders; a parent
    partner that merely sees the order does not (Forbidden)."""
    if caller.partner_id is None or caller.partner_id != partner_id:
        raise Forbidden(f"only the ordering partner may {action} this order")
    caller.require("order.create")


def check_can_decide(caller: Caller, status: str, action: str) -> int:
    """HQ approves (``action`` ``approve``) or rejects (``reject``) an order in approval;
    the deciding user's id. Whether the user holds the current step is the approval
    engine's to say."""
    if not caller.is_hq:
        raise Forbidden(f"orders are {action}d by headquarters")
    user_id = person(caller)
    check_transition(status, action)
    return user_id


def check_partner_not_terminated(status: str | None) -> None:
    """A terminated partner's open orders are being cancelled (its handover): none of them
    is approved meanwhile (409 ``partner_not_active``). ``status`` is what orders keeps of
    the partner (None while it knows nothing of it)."""
    if status == "terminated":
        raise Conflict(
            "the partner is terminated; its orders in approval are cancelled",
            "partner_not_active",
        )


def check_can_complete(caller: Caller, status: str) -> None:
    """HQ with ``order.fulfil`` marks an approved order delivered."""
    caller.require_hq("order.fulfil")
    person(caller)
    check_transition(status, "complete")


def check_can_cancel(caller: Caller, status: str, partner_id: int, reason: str | None) -> bool:
    """Before approval the owner cancels (draft, submitted, rejected); after approval HQ
    with ``order.cancel`` does, with a reason. A completed or cancelled order stays.
    Whether the cancelled order was approved."""
    person(caller)
    check_transition(status, "cancel")
    was_approved = status == APPROVED
    if was_approved:
        if not caller.is_hq:
            raise Forbidden("an approved order is cancelled by headquarters")
        caller.require("order.cancel")
        if not (reason and reason.strip()):
            raise InvalidInput(
                "cancelling an approved order needs a reason", errors={"reason": ["required"]}
            )
    else:
        check_owner(caller, partner_id, "cancel")
    return was_approved


def check_owned_customer(customer: Any, partner_id: int | None) -> dict:
    """The filing service's answer for a customer, if it is protected for ``partner_id``
    (filing refuses others itself; its answer is checked again here): 422
    ``customer_not_owned`` otherwise."""
    if (
        not isinstance(customer, dict)
        or customer.get("owner_partner_id") != partner_id
        or customer.get("status") != "protected"
    ):
        raise InvalidInput(
            "the customer is not protected for your partner",
            "customer_not_owned",
            {"customer_id": ["not a protected customer of yours"]},
        )
    return customer


def flow_subject(total_amount: Decimal, max_discount: Decimal) -> dict[str, Decimal]:
    """What the approval flow's conditions look at (``flows.SUBJECT_FIELDS``)."""
    return {"total_amount": total_amount, "max_discount": max_discount}


def participants(
    created_by: int | None,
    actor_ids: Iterable[int | None],
    commenter_ids: Iterable[int | None],
    author_id: int | None,
) -> list[int]:
    """Who is told of a new comment: whoever created, acted on or commented on the order,
    except the comment's author."""
    everyone = {created_by, *actor_ids, *commenter_ids} - {None, author_id}
    return sorted(user_id for user_id in everyone if user_id is not None)


# -- payments received (回款) and credit ---------------------------------------------------

#: Days after the approval that an order's total is due when HQ set no plan.
DEFAULT_PLAN_DAYS = 30
#: The statuses of an order that is owed: approved, and delivered.
OWED = frozenset({APPROVED, COMPLETED})


def check_payable(status: str) -> None:
    """Payments and plans are for approved or completed orders: InvalidState otherwise."""
    if status not in OWED:
        raise InvalidState(f"an order that is {status} takes no payment plan nor payment")


def payment_status(status: str, total: Decimal, paid: Decimal) -> str | None:
    """``unpaid``, ``partial`` or ``paid`` for an owed order (approved or completed); None
    for any other (nothing is due before the approval, nor after a cancellation)."""
    if status not in OWED:
        return None
    if paid <= ZERO:
        return UNPAID
    return PAID if paid >= total else PARTIAL


def outstanding(status: str, total: Decimal, paid: Decimal) -> Decimal | None:
    """What an owed order still has to be paid; None for any other."""
    return money(total - paid) if status in OWED else None


def paid_after(kind: str, total: Decimal, paid: Decimal, amount: Decimal) -> Decimal:
    """What the order has been paid once a receipt or refund of ``amount`` counts. A
    receipt beyond what is outstanding is 422 ``overpayment``; a refund beyond what was
    received is 422 ``overrefund`` (the amount allowed is named)."""
    if kind == RECEIPT:
        due = money(total - paid)
        if amount > due:
            raise InvalidInput(
                f"the receipt is more than the {due} still outstanding",
                "overpayment",
                {"amount": [f"at most {due}"]},
            )
        return money(paid + amount)
    if kind == REFUND:
        if amount > paid:
            raise InvalidInput(
                f"the refund is more than the {money(paid)} received",
                "overrefund",
                {"amount": [f"at most {money(paid)}"]},
            )
        return money(paid - amount)
    raise ValueError(f"unknown payment kind {kind!r}")


def check_received_on(received_on: date, approved_on: date, today: date) -> None:
    """The money moved on a day that has come (``today``: the UTC date) and not before the
    order was approved: 422 on ``received_on`` otherwise."""
    if received_on > today:
        raise InvalidInput(
            "a payment is recorded once received",
            errors={"received_on": [f"not after today ({today.isoformat()}, UTC)"]},
        )
    if received_on < approved_on:
        raise InvalidInput(
            "a payment is for an approved order",
            errors={"received_on": [f"not before the approval ({approved_on.isoformat()})"]},
        )


def default_plan(total: Decimal, approved_on: date) -> list[dict]:
    """The plan of an order HQ set none for: the whole total due ``DEFAULT_PLAN_DAYS``
    after the approval."""
    return [{"due_date": approved_on + timedelta(days=DEFAULT_PLAN_DAYS), "amount": total}]


def check_plan(installments: list[dict], total: Decimal, approved_on: date) -> list[dict]:
    """A plan's installments sorted by due date (in the order given within a day): their
    amounts sum exactly to the order's ``total`` (422 ``plan_total_mismatch``) and no due
    date is before the approval (422)."""
    early = [i for i in installments if i["due_date"] < approved_on]
    if early:
        raise InvalidInput(
            "an installment is due before the order was approved",
            errors={"installments": [f"due dates not before {approved_on.isoformat()}"]},
        )
    planned = money(sum((i["amount"] for i in installments), ZERO))
    if planned != money(total):
        raise InvalidInput(
            f"the installments sum to {planned}, the order's total is {money(total)}",
            "plan_total_mismatch",
            {"installments": [f"amounts summing to {money(total)}"]},
        )
    return sorted(installments, key=lambda i: i["due_date"])


def check_no_receipts(paid: Decimal) -> None:
    """An approved order that has been paid (net of refunds) is not cancelled before the
    money is refunded: 409 ``refund_first``."""
    if paid > ZERO:
        raise Conflict(
            f"the order has been paid {money(paid)}: refund it before cancelling",
            "refund_first",
        )


def available_credit(limit: Decimal | None, owed: Decimal) -> Decimal | None:
    """What a partner may still order for: its ``limit`` less what it ``owed``, never below
    0; None when it has no limit."""
    if limit is None:
        return None
    return max(money(limit - owed), money(ZERO))


def check_credit(limit: Decimal | None, owed: Decimal, total: Decimal) -> None:
    """An order of ``total`` is submitted only if the partner's outstanding ``owed`` with it
    stays within ``limit`` (no limit: no check): 422 ``credit_limit_exceeded`` naming the
    ``available`` amount otherwise."""
    if limit is None or owed + total <= limit:
        return
    available = available_credit(limit, owed)
    raise InvalidInput(
        f"the order's total {money(total)} is more than the {available} of credit available",
        "credit_limit_exceeded",
        {"available": [f"{available}"]},
    )


# -- receivables: installments paid earliest first, ageing, reminders -------------------

#: An installment is reminded this many days before it is due (and on the day), once.
DUE_SOON_DAYS = 3
#: An overdue installment is reminded on its first overdue day, then every this many days.
OVERDUE_EVERY_DAYS = 7
#: The ageing buckets (应收账龄): the most days overdue each holds (None: no end).
AGEING_BUCKETS: tuple[tuple[str, int | None], ...] = (
    ("not_due", 0),
    ("1_30", 30),
    ("31_60", 60),
    ("61_90", 90),
    ("over_90", None),
)
DUE_SOON, OVERDUE = "due_soon", "overdue"


def unpaid_parts(installments: list[dict], paid: Decimal) -> list[dict]:
    """Each installment (``{position, due_date, amount}``) with its ``unpaid`` part: what
    the order has been paid (receipts net of refunds) pays the installments earliest due
    first (by position within a day)."""
    left = max(money(paid), money(ZERO))
    parts = []
    for installment in sorted(installments, key=lambda i: (i["due_date"], i["position"])):
        covered = min(left, money(installment["amount"]))
        left = money(left - covered)
        parts.append(installment | {"unpaid": money(installment["amount"] - covered)})
    return parts


def days_overdue(due_date: date, today: date) -> int:
    """Days an installment due on ``due_date`` is overdue on ``today`` (0: not yet)."""
    return max((today - due_date).days, 0)


def ageing_bucket(due_date: date, as_of: date) -> str:
    """The ageing bucket of an unpaid installment due on ``due_date`` as of ``as_of``."""
    late = days_overdue(due_date, as_of)
    for name, most in AGEING_BUCKETS:
        if most is None or late <= most:
            return name
    raise AssertionError("the last bucket has no end")


def reminder_due(
    due_date: date, today: date, sent_due_soon: bool, last_overdue_on: date | None
) -> str | None:
    """The reminder an unpaid installment is owed ``today`` (UTC), if any: ``due_soon``
    once, from ``DUE_SOON_DAYS`` before its due date to that day; ``overdue`` on its first
    overdue day the timer sees, then every ``OVERDUE_EVERY_DAYS`` days."""
    if today > due_date:
        if last_overdue_on is None or (today - last_overdue_on).days >= OVERDUE_EVERY_DAYS:
            return OVERDUE
        return None
    if (due_date - today).days <= DUE_SOON_DAYS and not sent_due_soon:
        return DUE_SOON
    return None
