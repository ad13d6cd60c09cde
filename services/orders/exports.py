"""The sales report and the order summary as CSV or XLSX files
(``services.common.report_files``): the use cases ``export_sales_report`` and
``export_order_summary``, and the rendering: Chinese headers and labels, ending with a 合计
(totals) row.
"""

from __future__ import annotations

from datetime import date

from services.common import audit
from services.common.context import Caller
from services.common.report_files import (
    AMOUNT_FORMAT,
    COUNT_FORMAT,
    Table,
    file_answer,
    grouped_table,
)
from services.common.report_files import render as render_table
from services.common.unit_of_work import UnitOfWork
from services.orders.reports import RegionNames, order_summary, row_columns, sales_report

HEADERS = {
    "province": "省份代码",
    "province_name": "省份",
    "city": "城市代码",
    "city_name": "城市",
    "partner_id": "合作伙伴ID",
    "partner_code": "合作伙伴编码",
    "partner_name": "合作伙伴",
    "product_id": "产品ID",
    "sku": "产品编码",
    "product_name": "产品名称",
    "month": "月份",
    "quarter": "季度",
    "source": "客户来源",
    "status": "订单状态",
    "order_count": "订单数",
    "quantity": "数量",
    "amount": "金额（元）",
}
STATUS_LABELS = {
    "draft": "草稿",
    "submitted": "审批中",
    "approved": "已审批",
    "rejected": "已驳回",
    "completed": "已完成",
    "cancelled": "已取消",
}
NUMBER_FORMATS = {"order_count": COUNT_FORMAT, "quantity": COUNT_FORMAT, "amount": AMOUNT_FORMAT}
#: The order summary's columns, in the file's order.
SUMMARY_COLUMNS = [
    ("province", "省份代码"),
    ("province_name", "省份"),
    ("city", "城市代码"),
    ("city_name", "城市"),
    ("partner_code", "合作伙伴编码"),
    ("partner_name", "合作伙伴"),
    ("order_count", "订单数"),
    ("in_approval", "审批中"),
    ("approved_count", "已审批"),
    ("amount", "金额（元）"),
    ("approved_amount", "已审批金额（元）"),
]
SUMMARY_FORMATS = {
    "order_count": COUNT_FORMAT,
    "in_approval": COUNT_FORMAT,
    "approved_count": COUNT_FORMAT,
    "amount": AMOUNT_FORMAT,
    "approved_amount": AMOUNT_FORMAT,
}


def export_sales_report(
    uow: UnitOfWork, caller: Caller, args: dict, region_names: RegionNames
) -> dict:
    """The sales report (``reports.sales_report``) as a file in ``args["format"]`` (csv or
    xlsx), base64-encoded (``file_answer``); the export is recorded in the audit log."""
    report = sales_report(uow, caller, args, region_names)
    answer = file_answer(render(report, args["format"]))
    with uow:
        filters = {
            "group_by": args.get("group_by"),
            "from": _day(args.get("date_from")),
            "to": _day(args.get("date_to")),
            "status": args.get("status"),
            "partner_id": args.get("partner_id"),
        }
        audit.record_export(uow, caller, "sales", args["format"], len(report["rows"]), filters)
        return uow.commit(answer)


def export_order_summary(
    uow: UnitOfWork, caller: Caller, args: dict, region_names: RegionNames
) -> dict:
    """The order summary (``reports.order_summary``) as a file in ``args["format"]``,
    base64-encoded; the export is recorded in the audit log."""
    report = order_summary(uow, caller, args, region_names)
    name = "orders-summary"
    if report.get("from") or report.get("to"):
        name += f"-{report.get('from') or 'start'}-{report.get('to') or 'now'}"
    rows = {**report, "group_by": ["province", "city", "partner"]}
    table = grouped_table("订单汇总", rows, SUMMARY_COLUMNS, SUMMARY_FORMATS)
    answer = file_answer(render_table(table, args["format"], name))
    with uow:
        filters = {
            "from": _day(args.get("date_from")),
            "to": _day(args.get("date_to")),
            "partner_id": args.get("partner_id"),
        }
        audit.record_export(
            uow, caller, "orders_summary", args["format"], len(report["rows"]), filters
        )
        return uow.commit(answer)


def _day(value: date | None) -> str | None:
    return value.isoformat() if value is not None else None


def table(report: dict) -> Table:
    """The report as a file shows it: labelled values, then the totals row (合计 in the
    first column when there is one for it)."""
    columns = [(key, HEADERS[key]) for key in row_columns(report["group_by"])]
    return grouped_table("销售报表", report, columns, NUMBER_FORMATS, {"status": STATUS_LABELS})


def render(report: dict, file_format: str) -> tuple[bytes, str, str]:
    """``(content, content type, file name)`` of the report in ``csv`` or ``xlsx``."""
    name = "sales-report"
    if report.get("from") or report.get("to"):
        name += f"-{report.get('from') or 'start'}-{report.get('to') or 'now'}"
    return render_table(table(report), file_format, name)
