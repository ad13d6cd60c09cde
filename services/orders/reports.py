"""Order reports, computed by the database (GROUP BY), never by loading orders.

- The sales report groups orders by any combination of province, city, partner, product,
  month, quarter, customer source and status, with the number of orders, the quantity and
  the amount, over a date range (the order's creation day, Asia/Shanghai calendar).
  Without ``status`` it counts orders that went into approval: drafts and cancelled orders
  are left out; ``status=approved,completed`` gives booked sales.
- The summary groups by province, city and partner: orders, those in approval, those
  approved (or completed), and their amounts.

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

from sqlalchemy import Select, case, func, literal_column, select, text
from sqlalchemy.orm import Session

from services.common.context import Caller
from services.common.errors import InvalidInput
from services.common.money import money, money_str
from services.common.scoping import scoped
from services.common.unit_of_work import UnitOfWork
from services.orders.models import Order, OrderLine, PartnerCopy, Product
from services.orders.periods import (
    created_between,
    month_label,
    month_start,
    quarter_label,
    quarter_start,
)
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


@dataclass(frozen=True)
class Dimension:
    """How a dimension is grouped (``group``: an expression on the orders and their lines,
    per dialect) and shown (``show``: the row's columns ``keys``, from the grouped value
    and, for partners and products, the table ``joined`` on it)."""

    keys: tuple[str, ...]
    group: Callable[[str], Any]
    show: Callable[[Any, str], list[Any]]
    joined: Any = None


DIMENSIONS: dict[str, Dimension] = {
    "province": Dimension(("province",), lambda d: Order.province, lambda g, d: [g]),
    "city": Dimension(("city",), lambda d: Order.city, lambda g, d: [g]),
    "partner": Dimension(
        ("partner_id", "partner_code", "partner_name"),
        lambda d: Order.partner_id,
        lambda g, d: [g, PartnerCopy.code, PartnerCopy.name],
        PartnerCopy,
    ),
    "product": Dimension(
        ("product_id", "sku", "product_name"),
        lambda d: OrderLine.product_id,
        lambda g, d: [g, Product.sku, Product.name],
        Product,
    ),
    "month": Dimension(
        ("month",),
        lambda d: month_start(Order.created_at, d),
        lambda g, d: [month_label(g, d)],
    ),
    "quarter": Dimension(
        ("quarter",),
        lambda d: quarter_start(Order.created_at, d),
        lambda g, d: [quarter_label(g, d)],
    ),
    "source": Dimension(("source",), lambda d: Order.customer_source, lambda g, d: [g]),
    "status": Dimension(("status",), lambda d: Order.status, lambda g, d: [g]),
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


def _filtered(stmt: Select, caller: Caller, args: dict, statuses: tuple[str, ...]) -> Select:
    stmt = scoped(stmt, Order.partner_id, caller).where(Order.status.in_(statuses))
    if args.get("partner_id") is not None:
        stmt = stmt.where(Order.partner_id == args["partner_id"])
    return created_between(stmt, args.get("date_from"), args.get("date_to"))


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
    return money_str(money(Decimal(str(value))) if value is not None else 0)


def _totals(session: Session, caller: Caller, args: dict, statuses: tuple[str, ...]) -> dict:
    stmt = _filtered(
        select(func.count(Order.id), func.sum(Order.total_quantity), func.sum(Order.total_amount)),
        caller,
        args,
        statuses,
    )
    return _metrics(session.execute(stmt).one())


def _sum_rows(rows: list[dict]) -> dict:
    return {
        "order_count": sum(row["order_count"] for row in rows),
        "quantity": sum(row["quantity"] for row in rows),
        "amount": money_str(sum((Decimal(row["amount"]) for row in rows), Decimal(0))),
    }


def _give_memory(session: Session) -> None:
    """Let PostgreSQL sort and hash a report in memory (for this transaction only)."""
    if _dialect(session) == "postgresql":
        session.execute(text(f"SET LOCAL work_mem = '{REPORT_WORK_MEM}'"))


def _metrics(values: Any) -> dict:
    count, quantity, amount = values
    return {"order_count": _count(count), "quantity": _count(quantity), "amount": _amount(amount)}


def _grouped(caller: Caller, args: dict, group_by: list[str], dialect: str) -> Select:
    """The aggregate: orders (and their lines, with ``product``) grouped by the dimensions'
    narrow values (ids, codes, period starts), one row per group."""
    labelled = [DIMENSIONS[dim].group(dialect).label(dim) for dim in group_by]
    if "product" in group_by:
        # Each product is on one line of an order at most (a unique constraint), so the
        # lines of a group count its orders.
        metrics = [OrderLine.id, OrderLine.quantity, OrderLine.amount]
        source = select().select_from(Order).join(OrderLine, OrderLine.order_id == Order.id)
    else:
        metrics = [Order.id, Order.total_quantity, Order.total_amount]
        source = select().select_from(Order)
    stmt = source.add_columns(
        *labelled,
        func.count(metrics[0]).label("order_count"),
        func.sum(metrics[1]).label("quantity"),
        func.sum(metrics[2]).label("amount"),
    )
    stmt = _filtered(stmt, caller, args, tuple(args.get("status") or DEFAULT_STATUSES))
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
        totals = _sum_rows(result_rows)
    return {
        "group_by": group_by,
        "from": args["date_from"].isoformat() if args.get("date_from") else None,
        "to": args["date_to"].isoformat() if args.get("date_to") else None,
        "status": list(statuses),
        "rows": result_rows,
        "totals": totals,
    }


def summary_figures(session: Session, caller: Caller, args: dict) -> dict:
    """Orders by province, city and partner: how many went into approval (``order_count``),
    are in approval now, are approved (or completed), and the amounts of all and of the
    approved ones."""
    booked = Order.status.in_(BOOKED)
    metrics = [
        func.count(Order.id),
        func.sum(case((Order.status == SUBMITTED, 1), else_=0)),
        func.sum(case((booked, 1), else_=0)),
        func.sum(Order.total_amount),
        func.sum(case((booked, Order.total_amount), else_=0)),
    ]
    stmt = _filtered(
        select(
            Order.province,
            Order.city,
            Order.partner_id,
            PartnerCopy.code,
            PartnerCopy.name,
            *metrics,
        )
        .select_from(Order)
        .outerjoin(PartnerCopy, PartnerCopy.id == Order.partner_id),
        caller,
        args,
        DEFAULT_STATUSES,
    )
    stmt = stmt.group_by(*_ordinals(5)).order_by(*_ordinals(5))
    _give_memory(session)
    keys = ("province", "city", "partner_id", "partner_code", "partner_name")
    rows = [
        dict(zip(keys, row[:5], strict=True)) | _summary_metrics(row[5:])
        for row in _fetch(session, stmt)
    ]
    totals_stmt = _filtered(select(*metrics).select_from(Order), caller, args, DEFAULT_STATUSES)
    return {
        "from": args["date_from"].isoformat() if args.get("date_from") else None,
        "to": args["date_to"].isoformat() if args.get("date_to") else None,
        "rows": rows,
        "totals": _summary_metrics(session.execute(totals_stmt).one()),
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
