"""Order reports, read from the rollup of the orders (``services.orders.rollup``), never by
loading orders: the database sums a few thousand rollup rows whatever the number of orders.

- The sales report groups orders by any combination of province, city, partner, product,
  month, quarter, customer source and status, with the number of orders, the quantity and
  the amount, over a date range (the order's creation day, Asia/Shanghai calendar).
  Without ``status`` it counts orders that went into approval: drafts and cancelled orders
  are left out; ``status=approved,completed`` gives booked sales.
- The summary groups by province, city and partner: orders, those in approval, those
  approved (or completed), and their amounts.

Every filter the reports take (range, status, partner, the caller's scope) is a dimension
of the rollup: no report reads the orders themselves.

Partner users get their own scope's rows only, and totals of those rows only; HQ sees all.

The use cases (``sales_report``, ``order_summary``) read the figures (``sales_figures``,
``summary_figures``) in a read-only ``with uow:`` and name the regions (the partners
service's dictionary) once the block is left: no transaction stays open across the call.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from sqlalchemy import (
    TIMESTAMP,
    ColumnElement,
    Integer,
    Select,
    String,
    case,
    cast,
    func,
    literal,
    literal_column,
    select,
    text,
)
from sqlalchemy.orm import Session

from services.common.context import Caller
from services.common.errors import InvalidInput
from services.common.money import money_str
from services.common.scoping import scoped
from services.common.unit_of_work import UnitOfWork
from services.orders import rollup
from services.orders.models import PartnerCopy, Product
from services.orders.periods import month_label, quarter_label
from services.orders.rollup import PARTNER, PRODUCT, REGION, SOURCE, R
from services.orders.schemas import APPROVED, COMPLETED, REJECTED, SUBMITTED

#: Statuses the sales report counts when none are asked for: whatever went into approval.
DEFAULT_STATUSES = (SUBMITTED, APPROVED, REJECTED, COMPLETED)
BOOKED = (APPROVED, COMPLETED)
MAX_ROWS = 50_000
#: PostgreSQL memory for a report's sort or hash (the default 4MB spills to disk).
REPORT_WORK_MEM = "64MB"
#: ``partners.region_names``: the names of a list of region codes (code -> name).
RegionNames = Callable[[list[str]], dict[str, str]]


def sales_report(uow: UnitOfWork, caller: Caller, args: dict, region_names: RegionNames) -> dict:
    """The sales report (``sales_figures``) for holders of ``report.read``, each region
    named next to its code."""
    caller.require("report.read")
    with uow:
        report = sales_figures(uow.session, caller, args)
    return name_regions(report, region_names)


def order_summary(uow: UnitOfWork, caller: Caller, args: dict, region_names: RegionNames) -> dict:
    """The order summary (``summary_figures``) for holders of ``report.read``, each region
    named next to its code."""
    caller.require("report.read")
    with uow:
        report = summary_figures(uow.session, caller, args)
    return name_regions(report, region_names)


def _month(day: Any, dialect: str) -> ColumnElement:
    # The month's first day on PostgreSQL (shown by ``month_label``); ``YYYY-MM`` on SQLite.
    # (A date truncated as a timestamp: as a timestamptz it would go through time zones.)
    if dialect == "postgresql":
        return func.date_trunc("month", cast(day, TIMESTAMP))
    return func.strftime("%Y-%m", day)


def _quarter(day: Any, dialect: str) -> ColumnElement:
    # The quarter's first day on PostgreSQL (shown by ``quarter_label``); ``YYYY-Qn`` on SQLite.
    if dialect == "postgresql":
        return func.date_trunc("quarter", cast(day, TIMESTAMP))
    number = cast((cast(func.strftime("%m", day), Integer) + 2) // 3, String)
    return func.strftime("%Y", day).concat(literal("-Q")).concat(number)


@dataclass(frozen=True)
class Dimension:
    """How a dimension is grouped (``group``: an expression on the rollup, per dialect),
    which of the rollup's dimensions it ``needs``, and how it is shown (``show``: the row's
    columns ``keys``, from the grouped value and, for partners and products, the table
    ``joined`` on it)."""

    keys: tuple[str, ...]
    group: Callable[[str], Any]
    show: Callable[[Any, str], list[Any]]
    needs: str | None = None
    joined: Any = None


DIMENSIONS: dict[str, Dimension] = {
    "province": Dimension(("province",), lambda d: R.c.province, lambda g, d: [g], REGION),
    "city": Dimension(
        ("city",), lambda d: func.nullif(R.c.city, literal("")), lambda g, d: [g], REGION
    ),
    "partner": Dimension(
        ("partner_id", "partner_code", "partner_name"),
        lambda d: R.c.partner_id,
        lambda g, d: [g, PartnerCopy.code, PartnerCopy.name],
        PARTNER,
        PartnerCopy,
    ),
    "product": Dimension(
        ("product_id", "sku", "product_name"),
        lambda d: R.c.product_id,
        lambda g, d: [g, Product.sku, Product.name],
        PRODUCT,
        Product,
    ),
    "month": Dimension(("month",), lambda d: _month(R.c.day, d), lambda g, d: [month_label(g, d)]),
    "quarter": Dimension(
        ("quarter",), lambda d: _quarter(R.c.day, d), lambda g, d: [quarter_label(g, d)]
    ),
    "source": Dimension(("source",), lambda d: R.c.source, lambda g, d: [g], SOURCE),
    "status": Dimension(("status",), lambda d: R.c.status, lambda g, d: [g]),
}

METRICS = ("order_count", "quantity", "amount")
#: Region code columns, and the column of their names (the partners' region dictionary).
REGION_NAMES = {"province": "province_name", "city": "city_name"}


def row_columns(group_by: list[str]) -> list[str]:
    """The keys of a report row for ``group_by``: the dimensions' columns (a region's name
    after its code), then the metrics."""
    keys = [key for dim in group_by for key in DIMENSIONS[dim].keys]
    named = [name for key in keys for name in (key, REGION_NAMES.get(key)) if name]
    return named + list(METRICS)


def name_regions(report: dict, names_of: RegionNames) -> dict:
    """Put each region's name next to its code in the report's rows; ``names_of`` gives
    the names of a list of codes (one call per report). A row without a city has no
    city name."""
    rows = report["rows"]
    present = [key for key in REGION_NAMES if rows and key in rows[0]]
    codes = sorted({row[key] for row in rows for key in present if row[key]})
    names = names_of(codes) if codes else {}
    for row in rows:
        for key in present:
            row[REGION_NAMES[key]] = names.get(row[key]) if row[key] else None
    return report


def _dialect(session: Session) -> str:
    return session.get_bind().dialect.name


def _ordinals(count: int) -> list[Any]:
    # GROUP BY / ORDER BY 1, 2, ...: the same expression as selected, on every database.
    return [literal_column(str(position)) for position in range(1, count + 1)]


def _needs(caller: Caller, args: dict, group_by: list[str]) -> set[str]:
    """The rollup's dimensions a report grouped by ``group_by`` reads: those of its
    dimensions, and the partner when the caller's scope or a filter names partners."""
    needed = {need for dim in group_by if (need := DIMENSIONS[dim].needs)}
    if caller.partner_ids is not None or args.get("partner_id") is not None:
        needed.add(PARTNER)
    return needed


def _filtered(
    stmt: Select, caller: Caller, args: dict, statuses: tuple[str, ...], needed: set[str]
) -> Select:
    """``stmt`` on the rollup's rows of the smallest level having ``needed``, for the
    report's range, statuses, partner and the caller's scope."""
    level = rollup.level_for(needed)
    stmt = stmt.where(rollup.rows_of(level, args.get("date_from"), args.get("date_to")))
    stmt = scoped(stmt, R.c.partner_id, caller).where(R.c.status.in_(statuses))
    if args.get("partner_id") is not None:
        stmt = stmt.where(R.c.partner_id == args["partner_id"])
    return stmt


def _fetch(session: Session, stmt: Select) -> list[Any]:
    rows = session.execute(stmt.limit(MAX_ROWS + 1)).all()
    if len(rows) > MAX_ROWS:
        raise InvalidInput(
            f"the report has more than {MAX_ROWS} rows; group by fewer dimensions or "
            "choose a shorter period",
            "report_too_large",
        )
    return rows


def _count(value: Any) -> int:
    return int(value or 0)


def _amount(value: Any) -> str:
    # SQLite sums NUMERIC as floats; rounding to the cent gives back the exact total.
    if value is None:
        return money_str(0)
    return money_str(value if isinstance(value, Decimal) else Decimal(str(value)))


def _totals(session: Session, caller: Caller, args: dict, statuses: tuple[str, ...]) -> dict:
    figures = (func.sum(R.c.order_count), func.sum(R.c.quantity), func.sum(R.c.amount))
    stmt = _filtered(
        select(*figures).select_from(R), caller, args, statuses, _needs(caller, args, [])
    )
    return _metrics(session.execute(stmt).one())


def _sum_rows(rows: list[dict], counts: tuple[str, ...], amounts: tuple[str, ...]) -> dict:
    totals: dict[str, Any] = {key: sum(row[key] for row in rows) for key in counts}
    for key in amounts:
        totals[key] = money_str(sum((Decimal(row[key]) for row in rows), Decimal(0)))
    return totals


def _give_memory(session: Session) -> None:
    """Let PostgreSQL sort and hash a report in memory (for this transaction only)."""
    if _dialect(session) == "postgresql":
        session.execute(text(f"SET LOCAL work_mem = '{REPORT_WORK_MEM}'"))


def _metrics(values: Any) -> dict:
    count, quantity, amount = values
    return {"order_count": _count(count), "quantity": _count(quantity), "amount": _amount(amount)}


def _grouped(caller: Caller, args: dict, group_by: list[str], dialect: str) -> Select:
    """The aggregate: rollup rows grouped by the dimensions' narrow values (ids, codes,
    period starts), one row per group."""
    labelled = [DIMENSIONS[dim].group(dialect).label(dim) for dim in group_by]
    # By product, a group's lines are its orders (one line per product and order); else
    # each order counts once.
    count = R.c.line_count if "product" in group_by else R.c.order_count
    stmt = select(
        *labelled,
        func.sum(count).label("order_count"),
        func.sum(R.c.quantity).label("quantity"),
        func.sum(R.c.amount).label("amount"),
    ).select_from(R)
    statuses = tuple(args.get("status") or DEFAULT_STATUSES)
    stmt = _filtered(stmt, caller, args, statuses, _needs(caller, args, group_by))
    return stmt.group_by(*_ordinals(len(labelled))) if labelled else stmt


def sales_figures(session: Session, caller: Caller, args: dict) -> dict:
    """Rows grouped by ``args["group_by"]`` (in that order, sorted by them) with
    ``order_count``, ``quantity`` and ``amount``, and the ``totals`` of every counted order.

    With ``product`` among the dimensions, quantity and amount are those of the product's
    lines and ``order_count`` the orders having such a line (an order of two products counts
    in two rows; the totals count it once).
    """
    dialect = _dialect(session)
    group_by: list[str] = args.get("group_by") or []
    statuses = tuple(args.get("status") or DEFAULT_STATUSES)
    grouped = _grouped(caller, args, group_by, dialect).subquery("grouped")
    shown: list[Any] = []
    source: Any = grouped
    for dim in group_by:
        dimension = DIMENSIONS[dim]
        value = grouped.c[dim]
        if dimension.joined is not None:
            source = source.outerjoin(dimension.joined, dimension.joined.id == value)
        shown += dimension.show(value, dialect)
    stmt = select(*shown, grouped.c.order_count, grouped.c.quantity, grouped.c.amount)
    stmt = stmt.select_from(source)
    if shown:
        stmt = stmt.order_by(*_ordinals(len(shown)))
    _give_memory(session)
    rows = _fetch(session, stmt)
    keys = [key for dim in group_by for key in DIMENSIONS[dim].keys]
    result_rows = [
        dict(zip(keys, row[: len(keys)], strict=True)) | _metrics(row[len(keys) :]) for row in rows
    ]
    if "product" in group_by:
        totals = _totals(session, caller, args, statuses)
    else:
        # Each order is in exactly one row: the rows add up to the totals.
        totals = _sum_rows(result_rows, ("order_count", "quantity"), ("amount",))
    return {
        "group_by": group_by,
        "from": args["date_from"].isoformat() if args.get("date_from") else None,
        "to": args["date_to"].isoformat() if args.get("date_to") else None,
        "status": list(statuses),
        "rows": result_rows,
        "totals": totals,
    }


_SUMMARY_COUNTS = ("order_count", "in_approval", "approved_count")
_SUMMARY_AMOUNTS = ("amount", "approved_amount")


def summary_figures(session: Session, caller: Caller, args: dict) -> dict:
    """Orders by province, city and partner: how many went into approval (``order_count``),
    are in approval now, are approved (or completed), and the amounts of all and of the
    approved ones."""
    booked = R.c.status.in_(BOOKED)
    grouped = (
        _filtered(
            select(
                R.c.province.label("province"),
                func.nullif(R.c.city, literal("")).label("city"),
                R.c.partner_id.label("partner_id"),
                func.sum(R.c.order_count).label("order_count"),
                func.sum(case((R.c.status == SUBMITTED, R.c.order_count), else_=0)).label(
                    "in_approval"
                ),
                func.sum(case((booked, R.c.order_count), else_=0)).label("approved_count"),
                func.sum(R.c.amount).label("amount"),
                func.sum(case((booked, R.c.amount), else_=0)).label("approved_amount"),
            ).select_from(R),
            caller,
            args,
            DEFAULT_STATUSES,
            {PARTNER, REGION},
        )
        .group_by(*_ordinals(3))
        .subquery("grouped")
    )
    stmt = (
        select(
            grouped.c.province,
            grouped.c.city,
            grouped.c.partner_id,
            PartnerCopy.code,
            PartnerCopy.name,
            *(grouped.c[key] for key in (*_SUMMARY_COUNTS, *_SUMMARY_AMOUNTS)),
        )
        .select_from(grouped.outerjoin(PartnerCopy, PartnerCopy.id == grouped.c.partner_id))
        .order_by(*_ordinals(5))
    )
    _give_memory(session)
    keys = ("province", "city", "partner_id", "partner_code", "partner_name")
    rows = [
        dict(zip(keys, row[:5], strict=True)) | _summary_metrics(row[5:])
        for row in _fetch(session, stmt)
    ]
    return {
        "from": args["date_from"].isoformat() if args.get("date_from") else None,
        "to": args["date_to"].isoformat() if args.get("date_to") else None,
        "rows": rows,
        # Each order is in exactly one row.
        "totals": _sum_rows(rows, _SUMMARY_COUNTS, _SUMMARY_AMOUNTS),
    }


def _summary_metrics(values: Any) -> dict:
    count, in_approval, approved, amount, approved_amount = values
    return {
        "order_count": _count(count),
        "in_approval": _count(in_approval),
        "approved_count": _count(approved),
        "amount": _amount(amount),
        "approved_amount": _amount(approved_amount),
    }
