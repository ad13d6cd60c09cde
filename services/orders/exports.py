"""The sales report as files people open: CSV (UTF-8 with a byte-order mark, so that Excel
reads the Chinese headers) and XLSX (numbers as numbers: counts ``#,##0``, amounts
``#,##0.00``; codes and periods as text). Both end with a 合计 (totals) row.
"""

from __future__ import annotations

import csv
import io

from openpyxl import Workbook
from openpyxl.styles import Font

from services.common.money import to_decimal
from services.orders.reports import METRICS, row_columns

HEADERS = {
    "province": "省份代码",
    "city": "城市代码",
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
SOURCE_LABELS = {"partner": "伙伴报备", "hq": "总部分配"}
STATUS_LABELS = {
    "draft": "草稿",
    "submitted": "审批中",
    "approved": "已审批",
    "rejected": "已驳回",
    "completed": "已完成",
    "cancelled": "已取消",
}
TOTAL_LABEL = "合计"
COUNT_FORMAT = "#,##0"
AMOUNT_FORMAT = "#,##0.00"
NUMBER_FORMATS = {"order_count": COUNT_FORMAT, "quantity": COUNT_FORMAT, "amount": AMOUNT_FORMAT}
CSV_TYPE = "text/csv; charset=utf-8"
XLSX_TYPE = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"


def _label(key: str, value: object) -> object:
    if key == "source":
        return SOURCE_LABELS.get(str(value), value)
    if key == "status":
        return STATUS_LABELS.get(str(value), value)
    return value


def _table(report: dict) -> tuple[list[str], list[list[object]]]:
    """The columns' keys, and the rows with labelled values followed by the totals row
    (合计 in the first column when there is one for it)."""
    keys = row_columns(report["group_by"])
    rows = [[_label(key, row.get(key)) for key in keys] for row in report["rows"]]
    dims = len(keys) - len(METRICS)
    totals = report["totals"]
    label: list[object] = [TOTAL_LABEL, *[None] * (dims - 1)] if dims else []
    rows.append([*label, totals["order_count"], totals["quantity"], totals["amount"]])
    return keys, rows


def to_csv(report: dict) -> bytes:
    """The report as CSV: a header row, one row per group, the totals row."""
    keys, rows = _table(report)
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\r\n")
    writer.writerow([HEADERS[key] for key in keys])
    for row in rows:
        writer.writerow(["" if value is None else value for value in row])
    return ("\ufeff" + buffer.getvalue()).encode("utf-8")


def to_xlsx(report: dict) -> bytes:
    """The report as an XLSX workbook of one sheet, 销售报表."""
    keys, rows = _table(report)
    workbook = Workbook()
    sheet = workbook.active
    sheet.title = "销售报表"
    sheet.append([HEADERS[key] for key in keys])
    for cell in sheet[1]:
        cell.font = Font(bold=True)
    for row in rows:
        sheet.append([_cell(key, value) for key, value in zip(keys, row, strict=True)])
    for column, key in enumerate(keys, start=1):
        number_format = NUMBER_FORMATS.get(key)
        width = max(len(HEADERS[key]) * 2 + 2, 12)
        sheet.column_dimensions[sheet.cell(row=1, column=column).column_letter].width = width
        if number_format:
            for (cell,) in sheet.iter_rows(min_row=2, min_col=column, max_col=column):
                cell.number_format = number_format
    for cell in sheet[sheet.max_row]:
        cell.font = Font(bold=True)
    sheet.freeze_panes = "A2"
    buffer = io.BytesIO()
    workbook.save(buffer)
    return buffer.getvalue()


def _cell(key: str, value: object) -> object:
    # Amounts travel as strings; the sheet gets the exact Decimal, which openpyxl writes as
    # a number. Counts are ints already; codes and periods stay text.
    if key == "amount" and value is not None:
        return to_decimal(value)
    return value


def render(report: dict, file_format: str) -> tuple[bytes, str, str]:
    """``(content, content type, file name)`` of the report in ``csv`` or ``xlsx``."""
    name = "sales-report"
    if report.get("from") or report.get("to"):
        name += f"-{report.get('from') or 'start'}-{report.get('to') or 'now'}"
    if file_format == "csv":
        return to_csv(report), CSV_TYPE, f"{name}.csv"
    return to_xlsx(report), XLSX_TYPE, f"{name}.xlsx"
