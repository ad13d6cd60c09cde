"""The commission report (提成报表), the use cases: contract and commission amounts and
entry counts by any of partner, period and customer source, over a range of periods;
computed by the database (GROUP BY) over the entries' rollup (``rollup``: a row per period,
partner and source, which are all the report's dimensions and filters), limited to the
caller's partners; as JSON, or as a CSV or XLSX file (``exports``)."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from sqlalchemy import Row, Select, func, select
from sqlalchemy.orm import Session
from sqlalchemy.sql.elements import Label

from services.commission import exports
from services.commission.models import CommissionRollup, PartnerCopy
from services.common import audit
from services.common.context import Caller
from services.common.money import money_str
from services.common.report_files import file_answer
from services.common.scoping import scoped
from services.common.unit_of_work import UnitOfWork

_ZERO = Decimal("0")


def _dimension_columns(dims: list[str]) -> list[Label[Any]]:
    columns = []
    if "partner" in dims:
        columns += [
            CommissionRollup.partner_id.label("partner_id"),
            PartnerCopy.code.label("partner_code"),
            PartnerCopy.name.label("partner_name"),
        ]
    if "period" in dims:
        columns.append(CommissionRollup.period.label("period"))
    if "source" in dims:
        columns.append(CommissionRollup.source.label("source"))
    return columns


def _filtered(stmt: Select[Any], caller: Caller, args: dict) -> Select[Any]:
    stmt = scoped(stmt, CommissionRollup.partner_id, caller)
    if args.get("from_"):
        stmt = stmt.where(CommissionRollup.period >= args["from_"])
    if args.get("to"):
        stmt = stmt.where(CommissionRollup.period <= args["to"])
    if args.get("partner_id") is not None:
        stmt = stmt.where(CommissionRollup.partner_id == args["partner_id"])
    if args.get("source"):
        stmt = stmt.where(CommissionRollup.source == args["source"])
    return stmt


_MEASURES = (
    func.coalesce(func.sum(CommissionRollup.contract_amount), _ZERO).label("contract_amount"),
    func.coalesce(func.sum(CommissionRollup.amount), _ZERO).label("commission_amount"),
    func.coalesce(func.sum(CommissionRollup.entry_count), 0).label("entry_count"),
)


def _measures(row: Row[Any]) -> dict:
    return {
        "contract_amount": money_str(row.contract_amount),
        "commission_amount": money_str(row.commission_amount),
        "entry_count": int(row.entry_count),
    }


def commission_report(uow: UnitOfWork, caller: Caller, args: dict) -> dict:
    """Rows per combination of ``group_by`` (partner, period, source), ordered by them,
    with the totals; reversals count with their negative amounts. Partners see their own
    rows only (``report.read``)."""
    caller.require("report.read")
    with uow:
        return _report(uow.session, caller, args)


def export_commission_report(uow: UnitOfWork, caller: Caller, args: dict) -> dict:
    """The commission report as a CSV or XLSX file (``args["format"]``), base64-encoded;
    the export is recorded in the audit log."""
    report = commission_report(uow, caller, args)
    answer = file_answer(exports.render(report, args["format"]))
    with uow:
        filters = {
            "group_by": args.get("group_by"),
            "from": args.get("from_"),
            "to": args.get("to"),
            "partner_id": args.get("partner_id"),
            "source": args.get("source"),
        }
        audit.record_export(
            uow, caller, "commissions", args["format"], len(report["rows"]), filters
        )
        return uow.commit(answer)


def _report(session: Session, caller: Caller, args: dict) -> dict:
    dims: list[str] = args["group_by"]
    columns = _dimension_columns(dims)
    stmt = select(*columns, *_MEASURES).select_from(CommissionRollup)
    if "partner" in dims:
        stmt = stmt.outerjoin(PartnerCopy, PartnerCopy.id == CommissionRollup.partner_id)
    stmt = _filtered(stmt, caller, args)
    if columns:
        stmt = stmt.group_by(*columns).order_by(*columns)
    rows = []
    for row in session.execute(stmt):
        if not row.entry_count:
            continue  # no grouping and no entries: the database still answers one row
        values = {column.name: getattr(row, column.name) for column in columns}
        rows.append(values | _measures(row))
    totals = session.execute(
        _filtered(select(*_MEASURES).select_from(CommissionRollup), caller, args)
    ).one()
    return {"group_by": dims, "rows": rows, "totals": _measures(totals)}
