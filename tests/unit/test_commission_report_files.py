"""The commission report as a file: Chinese headers, the columns of the chosen dimensions,
amounts as numbers, and a totals row, as the commission service renders it."""

from __future__ import annotations

import csv
import io
from decimal import Decimal

from openpyxl import load_workbook

from services.commission.exports import report_table
from services.common.report_files import to_csv, to_xlsx


def report_csv(report: dict) -> str:
    return to_csv(report_table(report)).decode("utf-8")


REPORT = {
    "group_by": ["partner", "source"],
    "rows": [
        {
            "partner_id": 7,
            "partner_code": "HZ-01",
            "partner_name": "杭州合伙人",
            "source": "partner",
            "contract_amount": "100000.00",
            "commission_amount": "8000.00",
            "entry_count": 1,
        },
        {
            "partner_id": 7,
            "partner_code": "HZ-01",
            "partner_name": "杭州合伙人",
            "source": "hq",
            "contract_amount": "133333.33",
            "commission_amount": "4000.00",
            "entry_count": 2,
        },
    ],
    "totals": {"contract_amount": "233333.33", "commission_amount": "12000.00", "entry_count": 3},
}


def test_csv_has_chinese_headers_of_the_chosen_dimensions_and_a_totals_row() -> None:
    text = report_csv(REPORT)
    assert text.startswith("\ufeff")  # Excel needs the BOM to read UTF-8
    rows = list(csv.reader(io.StringIO(text.lstrip("\ufeff"))))
    assert rows[0] == [
        "合作伙伴ID",
        "合作伙伴编码",
        "合作伙伴名称",
        "客户来源",
        "合同金额",
        "提成金额",
        "条目数",
    ]
    assert rows[1] == ["7", "HZ-01", "杭州合伙人", "伙伴报备", "100000.00", "8000.00", "1"]
    assert rows[2][3] == "总部分配"
    assert rows[3] == ["合计", "", "", "", "233333.33", "12000.00", "3"]


def test_xlsx_has_the_same_table_with_amounts_as_numbers() -> None:
    sheet = load_workbook(io.BytesIO(to_xlsx(report_table(REPORT)))).active
    assert sheet.title == "提成报表"
    values = [list(row) for row in sheet.iter_rows(values_only=True)]
    assert values[0][:3] == ["合作伙伴ID", "合作伙伴编码", "合作伙伴名称"]
    assert Decimal(str(values[1][4])) == Decimal("100000.00")
    assert values[3][0] == "合计"
    assert Decimal(str(values[3][5])) == Decimal("12000.00")
    assert sheet.cell(row=2, column=5).number_format == "#,##0.00"
    assert sheet.cell(row=4, column=1).font.bold and sheet.freeze_panes == "A2"


def test_report_without_dimensions_is_one_totals_line() -> None:
    report = {"group_by": [], "rows": [REPORT["totals"]], "totals": REPORT["totals"]}
    rows = list(csv.reader(io.StringIO(report_csv(report).lstrip("\ufeff"))))
    assert rows == [["合同金额", "提成金额", "条目数"], ["233333.33", "12000.00", "3"]]
