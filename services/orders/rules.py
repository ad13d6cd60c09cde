"""Pure rules of dealer orders: amounts, discounts, the customer's region, the state machine,
who takes part. No database, no Nameko: what they promise is tested without I/O.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from decimal import ROUND_CEILING, Decimal

from services.common import regions
from services.common.errors import InvalidInput, InvalidState
from services.common.money import money, to_decimal
from services.common.schemas import RATE_PLACES
from services.orders.schemas import (
    APPROVED,
    CANCELLED,
    COMPLETED,
    DRAFT,
    REJECTED,
    SUBMITTED,
)

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
#: statuses in which the ordering partner may cancel; after them only HQ (``order.cancel``)
CANCELLED_BY_OWNER = frozenset({DRAFT, SUBMITTED, REJECTED})
FINAL = frozenset({COMPLETED, CANCELLED})


def check_transition(status: str, action: str) -> None:
    """InvalidState unless ``action`` may be done on an order that is ``status``."""
    if status not in ALLOWED_FROM[action]:
        raise InvalidState(f"cannot {action} an order that is {status}")


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
