"""The commission report as CSV and XLSX files (``services.common.report_files``): the
columns of the dimensions it is grouped by, Chinese headers, the totals row last."""

from __future__ import annotations

from services.commission.schemas import REPORT_COLUMNS
from services.common.report_files import AMOUNT_FORMAT, Table, grouped_table
from services.common.report_files import render as render_file

_MONEY_COLUMNS = ("contract_amount", "commission_amount")
#: The dimension a report column belongs to; the other columns are measures.
_DIMENSION_OF = {
    "partner_id": "partner",
    "partner_code": "partner",
    "partner_name": "partner",
    "period": "period",
    "source": "source",
}


def _columns(report: dict) -> list[tuple[str, str]]:
    """The measures, and the dimension columns of the dimensions the report is grouped by."""
    dims = set(report["group_by"])
    return [
        (name, header)
        for name, header in REPORT_COLUMNS
        if name not in _DIMENSION_OF or _DIMENSION_OF[name] in dims
    ]


def report_table(report: dict) -> Table:
    """The report as a file shows it: its columns, its rows, the totals row last."""
    formats = dict.fromkeys(_MONEY_COLUMNS, AMOUNT_FORMAT)
    return grouped_table("提成报表", report, _columns(report), formats)


def render(report: dict, file_format: str) -> tuple[bytes, str, str]:
    """``(content, content type, file name)`` of the report in ``csv`` or ``xlsx``."""
    return render_file(report_table(report), file_format, "commission-report")
