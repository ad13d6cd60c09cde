"""The reports' rollup (``OrderRollup``): the orders' counts, quantities and amounts summed
per key, kept in the transaction of every change of an order, so that a report reads rows
in proportion to its keys, not to the orders.

Levels. One rollup of every dimension at once would have about as many keys as there are
orders (500 partners x 300 cities x 50 products x 730 days leave few orders to a key), so
the rollup keeps levels, each the orders summed over some of the dimensions:

- level 0, by day: partner, region (province and city), product, source and status; it
  answers any report, and the days at the edges of a range that cuts a month;
- levels 1 to 6, by month, status and: product and source; region; partner; and two of
  partner, region and product with source.

A report reads the smallest level that has every dimension it groups or filters by
(``level_for``; the caller's scope and a partner filter need the partner), over the whole
months of its range, and level 0 over the days of the months the range cuts (``rows_of``).
Whatever the level, ``order_count`` summed counts each order once and ``line_count`` summed
by product counts the orders having that product (one line per product at most).

Keeping it. A use case takes what the order counts for (``counted``) before it changes the
order and hands it to ``record`` after: the difference goes in with one UPSERT adding to
what is there (``order_count = order_rollup.order_count + excluded.order_count``: atomic
on PostgreSQL whoever else writes the key at once; keys in one order, so that two writers
never deadlock), and the keys it brought to zero are deleted. ``rebuild`` computes the
rollup afresh from the orders (the migration, the benchmark, a repair).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import MAXYEAR, date, datetime, timedelta
from decimal import Decimal
from typing import Any

from sqlalchemy import (
    TIMESTAMP,
    ColumnElement,
    Connection,
    Date,
    and_,
    case,
    cast,
    delete,
    func,
    literal_column,
    or_,
    select,
    tuple_,
)
from sqlalchemy.orm import Session

from services.common.db import upsert_insert
from services.common.timeutil import BUSINESS_TZ, as_utc
from services.orders.models import Order, OrderLine, OrderRollup

PARTNER, REGION, PRODUCT, SOURCE = "partner", "region", "product", "source"


@dataclass(frozen=True)
class Level:
    """Rows summed by day (or by month) and by status and ``dims``."""

    number: int
    by_day: bool
    dims: frozenset[str]


BASE = Level(0, True, frozenset({PARTNER, REGION, PRODUCT, SOURCE}))
LEVELS = (
    BASE,
    Level(1, False, frozenset({PRODUCT, SOURCE})),
    Level(2, False, frozenset({REGION})),
    Level(3, False, frozenset({PARTNER})),
    Level(4, False, frozenset({REGION, PRODUCT, SOURCE})),
    Level(5, False, frozenset({PARTNER, REGION, SOURCE})),
    Level(6, False, frozenset({PARTNER, PRODUCT, SOURCE})),
)
#: Where a report looks for its level: fewest keys expected first.
_BY_SIZE = (*LEVELS[1:], BASE)

R = OrderRollup.__table__
KEY = ("level", "partner_id", "day", "province", "city", "product_id", "source", "status")
FIGURES = ("order_count", "line_count", "quantity", "amount")
#: A key's values, in ``KEY``'s order, and what it holds, in ``FIGURES``' order.
Key = tuple[int, int, date, str, str, int, str, str]
Figures = tuple[int, int, int, Decimal]
Counted = dict[Key, Figures]


def level_for(dims: set[str] | frozenset[str]) -> Level:
    """The smallest level having every one of ``dims``."""
    return next(level for level in _BY_SIZE if dims <= level.dims)


def business_day(moment: datetime) -> date:
    """The Shanghai calendar day of ``moment``."""
    return as_utc(moment).astimezone(BUSINESS_TZ).date()


# -- keeping it ------------------------------------------------------------------------


def counted(order: Order) -> Counted:
    """What ``order`` adds to the rollup as it stands: at each level, each line's key with
    the line's quantity and amount, the order counted on its line of the smallest product
    id. Nothing for an order not written yet."""
    if order.created_at is None or not order.lines:
        return {}
    day = business_day(order.created_at)
    first = min(line.product_id for line in order.lines)
    result: Counted = {}
    for level in LEVELS:
        for line in order.lines:
            key = _key(level, day, order, line.product_id)
            figures = (int(line.product_id == first), 1, line.quantity, line.amount)
            result[key] = _plus(result.get(key), figures)
    return result


def record(session: Session, before: Counted, order: Order) -> None:
    """Bring the rollup from ``before`` (``counted`` before the change) to ``order`` as it
    is now, in the session's transaction."""
    changes = _difference(counted(order), before)
    if not changes:
        return
    keys = sorted(changes)
    rows = [
        dict(zip(KEY, key, strict=True)) | dict(zip(FIGURES, changes[key], strict=True))
        for key in keys
    ]
    # The rows as parameters of one statement, not as its VALUES: a statement of this
    # order's values was compiled again for every order (about a tenth of its creation's
    # time in the orders service).
    insert = upsert_insert(session)(R)
    added = {name: R.c[name] + insert.excluded[name] for name in FIGURES}
    session.execute(insert.on_conflict_do_update(index_elements=list(KEY), set_=added), rows)
    emptied = [key for key in keys if changes[key][0] < 0 or changes[key][1] < 0]
    if emptied:
        session.execute(
            delete(R).where(
                tuple_(*(R.c[name] for name in KEY)).in_(emptied),
                R.c.order_count == 0,
                R.c.line_count == 0,
            )
        )


def _key(level: Level, day: date, order: Order, product_id: int) -> Key:
    dims = level.dims
    region = REGION in dims
    return (
        level.number,
        order.partner_id if PARTNER in dims else 0,
        day if level.by_day else day.replace(day=1),
        order.province if region else "",
        (order.city or "") if region else "",
        product_id if PRODUCT in dims else 0,
        order.customer_source if SOURCE in dims else "",
        order.status,
    )


def _plus(figures: Figures | None, more: Figures, sign: int = 1) -> Figures:
    count, lines, quantity, amount = figures or (0, 0, 0, Decimal(0))
    return (
        count + sign * more[0],
        lines + sign * more[1],
        quantity + sign * more[2],
        amount + sign * more[3],
    )


def _difference(after: Counted, before: Counted) -> Counted:
    result = dict(after)
    for key, figures in before.items():
        result[key] = _plus(result.get(key), figures, sign=-1)
    return {key: figures for key, figures in result.items() if any(figures)}


# -- computing it afresh ---------------------------------------------------------------


def rebuild(connection: Connection) -> None:
    """The rollup computed afresh from the orders, replacing what is there, in the
    connection's transaction: level 0 by a GROUP BY of the orders and their lines, the
    other levels by a GROUP BY of level 0."""
    dialect = connection.dialect.name
    connection.execute(delete(R))
    first = (
        select(OrderLine.order_id, func.min(OrderLine.product_id).label("product_id"))
        .group_by(OrderLine.order_id)
        .subquery("first_line")
    )
    base = (
        select(
            literal_column(str(BASE.number)),
            Order.partner_id,
            _business_day(Order.created_at, dialect),
            Order.province,
            func.coalesce(Order.city, literal_column("''")),
            OrderLine.product_id,
            Order.customer_source,
            Order.status,
            func.sum(case((OrderLine.product_id == first.c.product_id, 1), else_=0)),
            func.count(),
            func.sum(OrderLine.quantity),
            func.sum(OrderLine.amount),
        )
        .select_from(Order)
        .join(OrderLine, OrderLine.order_id == Order.id)
        .join(first, first.c.order_id == Order.id)
    )
    connection.execute(R.insert().from_select([*KEY, *FIGURES], _grouped(base, len(KEY))))
    for level in LEVELS:
        if level is BASE:
            continue
        dims = level.dims
        blank = {PARTNER: "0", REGION: "''", PRODUCT: "0", SOURCE: "''"}
        kept = {
            PARTNER: [R.c.partner_id],
            REGION: [R.c.province, R.c.city],
            PRODUCT: [R.c.product_id],
            SOURCE: [R.c.source],
        }
        values = {
            dim: kept[dim] if dim in dims else [literal_column(blank[dim])] * len(kept[dim])
            for dim in kept
        }
        stmt = select(
            literal_column(str(level.number)),
            *values[PARTNER],
            _month_start(R.c.day, dialect),
            *values[REGION],
            *values[PRODUCT],
            *values[SOURCE],
            R.c.status,
            *(func.sum(R.c[name]) for name in FIGURES),
        ).where(R.c.level == BASE.number)
        connection.execute(R.insert().from_select([*KEY, *FIGURES], _grouped(stmt, len(KEY))))


def _grouped(stmt: Any, keys: int) -> Any:
    # GROUP BY 1, 2, ...: the same expressions as selected, on every database.
    return stmt.group_by(*(literal_column(str(n)) for n in range(1, keys + 1)))


def _business_day(created_at: Any, dialect: str) -> ColumnElement:
    """SQL for ``business_day`` of a creation time."""
    if dialect == "postgresql":
        return cast(func.timezone(literal_column(f"'{BUSINESS_TZ.key}'"), created_at), Date)
    return func.date(created_at, "+8 hours")


def _month_start(day: Any, dialect: str) -> ColumnElement:
    """SQL for the first day of the month of a day."""
    if dialect == "postgresql":
        return cast(func.date_trunc("month", cast(day, TIMESTAMP)), Date)
    return func.date(day, "start of month")


# -- reading it ------------------------------------------------------------------------


def rows_of(level: Level, date_from: date | None, date_to: date | None) -> ColumnElement[bool]:
    """Where the rows of ``level`` are that sum the orders created on the days
    ``date_from`` to ``date_to`` (both included, either open): the level's rows of the
    range's whole months and level 0's of the days before and after them."""
    if level.by_day:
        return and_(R.c.level == level.number, *_days(date_from, date_to))
    months, days = split_range(date_from, date_to)
    parts = [and_(R.c.level == BASE.number, *_days(first, last)) for first, last in days]
    if months is not None:
        start, end = months
        bounds = [R.c.day >= start] if start is not None else []
        bounds += [R.c.day < end] if end is not None else []
        parts.append(and_(R.c.level == level.number, *bounds))
    return or_(*parts)


def _days(first: date | None, last: date | None) -> list[ColumnElement[bool]]:
    bounds = [R.c.day >= first] if first is not None else []
    return bounds + ([R.c.day <= last] if last is not None else [])


def split_range(
    date_from: date | None, date_to: date | None
) -> tuple[tuple[date | None, date | None] | None, list[tuple[date | None, date | None]]]:
    """The whole months of the days ``date_from`` to ``date_to`` as ``(start, end)`` (the
    first day of the first, the day after the last; None where the range is open), or None
    when it holds no whole month; and the days left over, as ``(first, last)`` ranges."""
    whole = (date_from, date_to)
    if date_from is None or date_from.day == 1:
        start = date_from
    else:
        start = _month_after(date_from)
        if start is None:
            return None, [whole]
    end: date | None = None
    if date_to is not None:
        after = _day_after(date_to)
        end = after if after is None or after.day == 1 else date_to.replace(day=1)
    if start is not None and end is not None and start >= end:
        return None, [whole]
    days: list[tuple[date | None, date | None]] = []
    if date_from is not None and start is not None and date_from < start:
        days.append((date_from, start - timedelta(days=1)))
    if date_to is not None and end is not None and end <= date_to:
        days.append((end, date_to))
    return (start, end), days


def _day_after(day: date) -> date | None:
    return None if day == date.max else day + timedelta(days=1)


def _month_after(day: date) -> date | None:
    """The first day of the month after ``day``'s; None beyond the calendar."""
    if day.month < 12:
        return date(day.year, day.month + 1, 1)
    return None if day.year == MAXYEAR else date(day.year + 1, 1, 1)
