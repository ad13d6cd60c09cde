"""The sales report as CSV and XLSX files (``services.common.report_files``): Chinese
headers and labels, ending with a 合计 (totals) row.
"""

from __future__ import annotations

from services.common.report_files import (
    AMOUNT_FORMAT,
    COUNT_FORMAT,
    Table,
    grouped_table,
)
from services.common.report_files import render as render_table
from services.orders.reports import row_columns

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
