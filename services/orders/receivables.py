"""Receivables (应收账龄) and collections (回款报表): the reports, their CSV and XLSX files, and
the installments of an order's payment plan with what is still unpaid of each, which the
reminders (``services.orders.reminders``) read too.

- The receivables report ages what approved and completed orders still owe on a day
  (``as_of``, default today, UTC): what the order was paid by that day (receipts net of
  refunds received on or before it) pays its installments earliest due first
  (``rules.unpaid_parts``); each installment's unpaid part falls in a bucket by the days
  it is overdue (``rules.ageing_bucket``). Orders approved after ``as_of`` owe nothing yet.
  Grouped by any of partner, province and city, with ``total`` per row and ``totals``.
- The collections report sums the receipts and refunds received from ``from`` to ``to``
  (both included), grouped by any of partner, province, city, month and quarter of the
  day received: ``received``, ``refunded``, ``amount`` (net) and ``payment_count``.

Partner users see their own scope's rows only (``scoped``), regional HQ staff their
partners'; money stays Decimal until it is written as a string with two places.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from datetime import date
from decimal import Decimal
from typing import Any

from sqlalchemy import case, func, select
from sqlalchemy.orm import Session

from services.common import audit
from services.common.context import Caller
from services.common.errors import InvalidInput
from services.common.money import money, money_str, to_decimal
from services.common.report_files import (
    AMOUNT_FORMAT,
    COUNT_FORMAT,
    file_answer,
    grouped_table,
)
from services.common.report_files import render as render_table
from services.common.scoping import scoped
from services.common.timeutil import as_utc, utcnow
from services.common.unit_of_work import UnitOfWork
from services.orders import rules
from services.orders.models import Order, PartnerCopy, Payment, PaymentInstallment
from services.orders.reports import MAX_ROWS, REGION_NAMES, RegionNames, name_regions
from services.orders.schemas import AGEING_BUCKET_KEYS, RECEIPT

ZERO = Decimal(0)
#: A dimension's columns in a row.
KEYS = {
    "partner": ("partner_id", "partner_code", "partner_name"),
    "province": ("province",),
    "city": ("city",),
    "month": ("month",),
    "quarter": ("quarter",),
}
COLLECTION_AMOUNTS = ("received", "refunded", "amount")


# -- installments and what is unpaid of them -------------------------------------------


def plans(session: Session, orders: list[Order]) -> dict[int, list[dict]]:
    """Each order's installments ``{position, due_date, amount}``: the ones HQ set, or the
    default plan (whole total due ``rules.DEFAULT_PLAN_DAYS`` after the approval)."""
    stored: dict[int, list[dict]] = defaultdict(list)
    ids = [order.id for order in orders]
    for start in range(0, len(ids), 500):
        rows = session.scalars(
            select(PaymentInstallment).where(
                PaymentInstallment.order_id.in_(ids[start : start + 500])
            )
        ).all()
        for row in rows:
            stored[row.order_id].append(
                {"position": row.position, "due_date": row.due_date, "amount": row.amount}
            )
    answer = {}
    for order in orders:
        if stored.get(order.id):
            answer[order.id] = stored[order.id]
        elif order.approved_at is not None:
            default = rules.default_plan(order.total_amount, as_utc(order.approved_at).date())
            answer[order.id] = [default[0] | {"position": 1}]
    return answer


# -- the receivables report (应收账龄) ----------------------------------------------------


def receivables_report(
    uow: UnitOfWork, caller: Caller, args: dict, region_names: RegionNames
) -> dict:
    """The receivables report (``receivables_figures``) for holders of ``report.read``."""
    caller.require("report.read")
    with uow:
        report = receivables_figures(uow.session, caller, args)
    return name_regions(report, region_names)


def _paid_by(session: Session, order_ids: list[int], as_of: date) -> dict[int, Decimal]:
    signed = case((Payment.kind == RECEIPT, Payment.amount), else_=-Payment.amount)
    paid: dict[int, Decimal] = {}
    for start in range(0, len(order_ids), 500):
        rows = session.execute(
            select(Payment.order_id, func.sum(signed))
            .where(Payment.order_id.in_(order_ids[start : start + 500]))
            .where(Payment.received_on <= as_of)
            .group_by(Payment.order_id)
        ).all()
        paid |= {order_id: _decimal(total) for order_id, total in rows}
    return paid


#: Orders read at a time by the receivables report.
CHUNK = 1000


def receivables_figures(session: Session, caller: Caller, args: dict) -> dict:
    """Outstanding amounts of the caller's scope by ``group_by`` in the ageing buckets."""
    as_of: date = args.get("as_of") or utcnow().date()
    group_by: list[str] = args.get("group_by") or []
    stmt = scoped(select(Order), Order.partner_id, caller).where(
        Order.status.in_(rules.OWED), Order.approved_at.is_not(None)
    )
    if args.get("partner_id") is not None:
        stmt = stmt.where(Order.partner_id == args["partner_id"])
    if as_of >= utcnow().date():
        # No payment is recorded for a day to come: an order paid in full owes nothing.
        stmt = stmt.where(Order.paid_amount < Order.total_amount)
    groups: dict[tuple, dict[str, Decimal]] = {}
    partner_ids: set[int] = set()
    last_id = 0
    # A chunk of orders at a time, forgotten after it: memory stays flat however many
    # orders are owed (the time grows with them: no rollup keeps the buckets).
    while chunk := session.scalars(
        stmt.where(Order.id > last_id).order_by(Order.id).limit(CHUNK)
    ).all():
        last_id = chunk[-1].id
        orders = [
            order
            for order in chunk
            if order.approved_at is not None and as_utc(order.approved_at).date() <= as_of
        ]
        paid = _paid_by(session, [order.id for order in orders], as_of)
        installments = plans(session, orders)
        for order in orders:
            partner_ids.add(order.partner_id)
            key = _group_key(group_by, order.partner_id, order.province, order.city)
            buckets = groups.setdefault(key, dict.fromkeys(AGEING_BUCKET_KEYS, ZERO))
            owed = rules.unpaid_parts(installments.get(order.id, []), paid.get(order.id, ZERO))
            for part in owed:
                if part["unpaid"] > ZERO:
                    bucket = rules.ageing_bucket(part["due_date"], as_of)
                    buckets[bucket] = money(buckets[bucket] + part["unpaid"])
        if len(groups) > MAX_ROWS:
            _too_large()
        session.expunge_all()
    partners = _partners(session, partner_ids)
    rows = []
    for key in sorted(groups, key=_sort_key):
        buckets = groups[key]
        if not any(buckets.values()):
            continue
        rows.append(_group_columns(group_by, key, partners) | _ageing(buckets))
    _check_size(rows)
    totals = {
        bucket: sum((groups[key][bucket] for key in groups), ZERO) for bucket in AGEING_BUCKET_KEYS
    }
    return {
        "group_by": group_by,
        "as_of": as_of.isoformat(),
        "rows": rows if group_by else [],
        "totals": _ageing(totals),
    }


def _ageing(buckets: dict[str, Decimal]) -> dict[str, str]:
    shown = {bucket: money_str(buckets[bucket]) for bucket in AGEING_BUCKET_KEYS}
    return shown | {"total": money_str(sum(buckets.values(), ZERO))}


# -- the collections report (回款报表) ----------------------------------------------------


def collections_report(
    uow: UnitOfWork, caller: Caller, args: dict, region_names: RegionNames
) -> dict:
    """The collections report (``collections_figures``) for holders of ``report.read``."""
    caller.require("report.read")
    with uow:
        report = collections_figures(uow.session, caller, args)
    return name_regions(report, region_names)


def collections_figures(session: Session, caller: Caller, args: dict) -> dict:
    """Receipts and refunds of the caller's scope received from ``from`` to ``to``, by
    ``group_by``: summed by the database per partner, region and day, folded into months
    and quarters here."""
    group_by: list[str] = args.get("group_by") or []
    received = case((Payment.kind == RECEIPT, Payment.amount), else_=0)
    refunded = case((Payment.kind == RECEIPT, 0), else_=Payment.amount)
    stmt = scoped(
        select(
            Payment.partner_id,
            Order.province,
            Order.city,
            Payment.received_on,
            func.sum(received),
            func.sum(refunded),
            func.count(Payment.id),
        ).join(Order, Order.id == Payment.order_id),
        Payment.partner_id,
        caller,
    )
    if args.get("partner_id") is not None:
        stmt = stmt.where(Payment.partner_id == args["partner_id"])
    if args.get("date_from") is not None:
        stmt = stmt.where(Payment.received_on >= args["date_from"])
    if args.get("date_to") is not None:
        stmt = stmt.where(Payment.received_on <= args["date_to"])
    stmt = stmt.group_by(Payment.partner_id, Order.province, Order.city, Payment.received_on)
    fetched = session.execute(stmt.limit(MAX_ROWS * 10 + 1)).all()
    if len(fetched) > MAX_ROWS * 10:
        _too_large()
    groups: dict[tuple, dict[str, Any]] = {}
    for partner_id, province, city, day, got, gave, count in fetched:
        key = _group_key(group_by, partner_id, province, city, day)
        sums = groups.setdefault(key, {"received": ZERO, "refunded": ZERO, "payment_count": 0})
        sums["received"] = money(sums["received"] + _decimal(got))
        sums["refunded"] = money(sums["refunded"] + _decimal(gave))
        sums["payment_count"] += int(count)
    partners = _partners(session, {row[0] for row in fetched}) if "partner" in group_by else {}
    rows = [
        _group_columns(group_by, key, partners) | _collected(groups[key])
        for key in sorted(groups, key=_sort_key)
    ]
    _check_size(rows)
    totals = {
        "received": sum((g["received"] for g in groups.values()), ZERO),
        "refunded": sum((g["refunded"] for g in groups.values()), ZERO),
        "payment_count": sum(g["payment_count"] for g in groups.values()),
    }
    return {
        "group_by": group_by,
        "from": args["date_from"].isoformat() if args.get("date_from") else None,
        "to": args["date_to"].isoformat() if args.get("date_to") else None,
        "rows": rows if group_by else [],
        "totals": _collected(totals),
    }


def _collected(sums: dict[str, Any]) -> dict[str, Any]:
    return {
        "received": money_str(sums["received"]),
        "refunded": money_str(sums["refunded"]),
        "amount": money_str(sums["received"] - sums["refunded"]),
        "payment_count": sums["payment_count"],
    }


# -- grouping -------------------------------------------------------------------------------


def _group_key(
    group_by: list[str], partner_id: int, province: str, city: str | None, day: date | None = None
) -> tuple:
    values: dict[str, Any] = {"partner": partner_id, "province": province, "city": city or None}
    if day is not None:
        values["month"] = f"{day:%Y-%m}"
        values["quarter"] = f"{day.year}-Q{(day.month + 2) // 3}"
    return tuple(values[dim] for dim in group_by)


def _sort_key(key: tuple) -> tuple:
    # None (a province-level customer has no city) sorts first.
    return tuple((value is not None, value) for value in key)


def _group_columns(group_by: list[str], key: tuple, partners: dict[int, PartnerCopy]) -> dict:
    columns: dict[str, Any] = {}
    for dim, value in zip(group_by, key, strict=True):
        if dim == "partner":
            partner = partners.get(value)
            columns |= {
                "partner_id": value,
                "partner_code": partner.code if partner else None,
                "partner_name": partner.name if partner else None,
            }
        else:
            columns[dim] = value
    return columns


def _partners(session: Session, ids: Iterable[int]) -> dict[int, PartnerCopy]:
    wanted = sorted(ids)
    found: dict[int, PartnerCopy] = {}
    for start in range(0, len(wanted), 500):
        rows = session.scalars(
            select(PartnerCopy).where(PartnerCopy.id.in_(wanted[start : start + 500]))
        ).all()
        found |= {row.id: row for row in rows}
    return found


def _decimal(value: Any) -> Decimal:
    # SQLite sums NUMERIC as floats; rounding to the cent gives back the exact sum.
    if value is None:
        return ZERO
    return money(value if isinstance(value, Decimal) else to_decimal(str(value)))


def _check_size(rows: list[dict]) -> None:
    if len(rows) > MAX_ROWS:
        _too_large()


def _too_large() -> None:
    raise InvalidInput(
        f"the report has more than {MAX_ROWS} rows; group by fewer dimensions or choose a "
        "shorter period",
        "report_too_large",
    )


# -- the files ------------------------------------------------------------------------------

HEADERS = {
    "province": "省份代码",
    "province_name": "省份",
    "city": "城市代码",
    "city_name": "城市",
    "partner_id": "合作伙伴ID",
    "partner_code": "合作伙伴编码",
    "partner_name": "合作伙伴",
    "month": "月份",
    "quarter": "季度",
    "not_due": "未到期（元）",
    "1_30": "逾期1-30天（元）",
    "31_60": "逾期31-60天（元）",
    "61_90": "逾期61-90天（元）",
    "over_90": "逾期90天以上（元）",
    "total": "应收合计（元）",
    "received": "回款（元）",
    "refunded": "退款（元）",
    "amount": "净回款（元）",
    "payment_count": "笔数",
}


def _columns(group_by: list[str], metrics: tuple[str, ...]) -> list[tuple[str, str]]:
    keys = [key for dim in group_by for key in KEYS[dim]]
    named = [name for key in keys for name in (key, REGION_NAMES.get(key)) if name]
    return [(key, HEADERS[key]) for key in (*named, *metrics)]


def render(report: dict, kind: str, file_format: str) -> tuple[bytes, str, str]:
    """``(content, content type, file name)`` of the ``receivables`` or ``collections``
    report in ``csv`` or ``xlsx``, ending with a 合计 (totals) row."""
    if kind == "receivables":
        metrics: tuple[str, ...] = (*AGEING_BUCKET_KEYS, "total")
        title, name = "应收账龄", f"receivables-{report['as_of']}"
    else:
        metrics = (*COLLECTION_AMOUNTS, "payment_count")
        title, name = "回款报表", "collections"
        if report.get("from") or report.get("to"):
            name += f"-{report.get('from') or 'start'}-{report.get('to') or 'now'}"
    formats = dict.fromkeys(metrics, AMOUNT_FORMAT) | {"payment_count": COUNT_FORMAT}
    table = grouped_table(title, report, _columns(report["group_by"], metrics), formats)
    return render_table(table, file_format, name)


def export_receivables(
    uow: UnitOfWork, caller: Caller, args: dict, region_names: RegionNames
) -> dict:
    """The receivables report as a file in ``args["format"]``, audited."""
    report = receivables_report(uow, caller, args, region_names)
    filters = {
        "group_by": args.get("group_by"),
        "as_of": report["as_of"],
        "partner_id": args.get("partner_id"),
    }
    return _exported(uow, caller, "receivables", report, args["format"], filters)


def export_collections(
    uow: UnitOfWork, caller: Caller, args: dict, region_names: RegionNames
) -> dict:
    """The collections report as a file in ``args["format"]``, audited."""
    report = collections_report(uow, caller, args, region_names)
    filters = {
        "group_by": args.get("group_by"),
        "from": report["from"],
        "to": report["to"],
        "partner_id": args.get("partner_id"),
    }
    return _exported(uow, caller, "collections", report, args["format"], filters)


def _exported(
    uow: UnitOfWork, caller: Caller, kind: str, report: dict, file_format: str, filters: dict
) -> dict:
    answer = file_answer(render(report, kind, file_format))
    with uow:
        audit.record_export(uow, caller, kind, file_format, len(report["rows"]), filters)
        return uow.commit(answer)
