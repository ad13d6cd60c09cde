"""Reports as files people open, the same way for every report.

- CSV: UTF-8 with a byte-order mark, so that Excel shows the Chinese headers; CRLF lines.
- XLSX: one sheet; numbers as numbers (amounts as exact Decimals with ``#,##0.00``,
  counts ``#,##0``), codes and periods as text; bold header and totals row; the header
  frozen; columns as wide as their headers.
- Names come from users (a product, a partner), so no text ever becomes a formula: XLSX
  text cells are written as strings, and a CSV text cell that a spreadsheet would read as
  a formula (one starting with ``= + - @``, a tab or a carriage return, also after white
  space or written with full-width signs such as ``＝``) gets a leading ``'`` (OWASP "CSV
  injection"). Numbers stay numbers, negative ones included.

A grouped report (``{"group_by", "rows", "totals"}``) becomes a ``Table`` through
``grouped_table``: its headers, its rows, the totals row last, a number format per column.
``render`` writes the table as a file (``to_csv``, ``to_xlsx``); the service that owns the
report answers it over RPC as ``file_answer``, which the gateway sends as an attachment.
"""

from __future__ import annotations

import base64
import csv
import io
import re
import unicodedata
from dataclasses import dataclass, field

from openpyxl import Workbook
from openpyxl.cell.cell import ILLEGAL_CHARACTERS_RE
from openpyxl.styles import Font

from services.common.money import to_decimal

CSV_TYPE = "text/csv; charset=utf-8"
XLSX_TYPE = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
COUNT_FORMAT = "#,##0"
AMOUNT_FORMAT = "#,##0.00"
TOTAL_LABEL = "合计"
EXPORT_FORMATS = ("csv", "xlsx")
#: A customer's source as every report names it: filed by the partner, or an HQ lead.
SOURCE_LABELS = {"partner": "伙伴报备", "hq": "总部分配"}


@dataclass
class Table:
    title: str  # the sheet's name
    headers: list[str]
    rows: list[list[object]]  # the totals row last
    formats: list[str | None] = field(default_factory=list)  # per column; None: as it is


def grouped_table(
    title: str,
    report: dict,
    columns: list[tuple[str, str]],
    formats: dict[str, str] | None = None,
    labels: dict[str, dict[str, str]] | None = None,
) -> Table:
    """``report`` as a file shows it: the ``columns`` (key, header) of each row, then the
    totals row, each total under its column and 合计 in the first column without one.
    Values are named by ``labels`` (the customer source always); amounts (columns of
    ``AMOUNT_FORMAT``) travel as strings and become exact Decimals."""
    formats = formats or {}
    labels = {"source": SOURCE_LABELS} | (labels or {})

    def cell(key: str, value: object) -> object:
        if key in labels:
            return labels[key].get(str(value), value)
        if formats.get(key) == AMOUNT_FORMAT and value is not None:
            return to_decimal(value)
        return value

    # Without dimensions the only row is the totals row.
    grouped = report["rows"] if report["group_by"] else []
    rows = [[cell(key, row.get(key)) for key, _ in columns] for row in grouped]
    totals = report["totals"]
    total_row = [cell(key, totals[key]) if key in totals else None for key, _ in columns]
    first_blank = next((i for i, value in enumerate(total_row) if value is None), None)
    if first_blank is not None:
        total_row[first_blank] = TOTAL_LABEL
    rows.append(total_row)
    return Table(
        title=title,
        headers=[header for _, header in columns],
        rows=rows,
        formats=[formats.get(key) for key, _ in columns],
    )


#: What makes Excel, LibreOffice or Sheets read a text cell of a CSV file as a formula.
FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")
_PLAIN_NUMBER = re.compile(r"[+-]?[0-9]+(?:\.[0-9]+)?")


def _reads_as_formula(text: str) -> bool:
    # Spreadsheets skip leading white space and read full-width ＝ ＋ － ＠ (and the small
    # forms) as the ASCII signs: the start is judged as NFKC gives it, without that space.
    if text.startswith(FORMULA_STARTS):
        return not _PLAIN_NUMBER.fullmatch(text)
    start = unicodedata.normalize("NFKC", text.lstrip()[:8]).lstrip()
    if not start.startswith(FORMULA_STARTS):
        return False
    return not _PLAIN_NUMBER.fullmatch(unicodedata.normalize("NFKC", text).strip())


def csv_cell(value: object) -> object:
    """``value`` as a CSV cell: empty for None; a text a spreadsheet would evaluate quoted
    with ``'`` so that it shows as typed (the text itself unchanged after the quote);
    numbers, and texts that are plain numbers (``-12.50``), as they are."""
    if value is None:
        return ""
    if isinstance(value, str) and _reads_as_formula(value):
        return "'" + value
    return value


def to_csv(table: Table) -> bytes:
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\r\n")
    for row in [table.headers, *table.rows]:
        writer.writerow([csv_cell(value) for value in row])
    return ("\ufeff" + buffer.getvalue()).encode("utf-8")


def _storable(value: object) -> object:
    """A cell value an XLSX file can hold: control characters (a name written with a bell
    or an escape in it) are left out, as no spreadsheet could show them."""
    return ILLEGAL_CHARACTERS_RE.sub("", value) if isinstance(value, str) else value


def to_xlsx(table: Table) -> bytes:
    workbook = Workbook()
    sheet = workbook.active
    sheet.title = table.title
    for row, values in enumerate([table.headers, *table.rows], start=1):
        for column, value in enumerate(values, start=1):
            cell = sheet.cell(row=row, column=column, value=_storable(value))
            if isinstance(value, str):
                cell.data_type = "s"  # openpyxl takes a text starting with = for a formula
    formats = table.formats or [None] * len(table.headers)
    for column, (header, number_format) in enumerate(
        zip(table.headers, formats, strict=True), start=1
    ):
        letter = sheet.cell(row=1, column=column).column_letter
        sheet.column_dimensions[letter].width = max(len(header) * 2 + 2, 12)
        if number_format:
            for (cell,) in sheet.iter_rows(min_row=2, min_col=column, max_col=column):
                cell.number_format = number_format
    for row_number in {1, sheet.max_row}:
        for cell in sheet[row_number]:
            cell.font = Font(bold=True)
    sheet.freeze_panes = "A2"
    buffer = io.BytesIO()
    workbook.save(buffer)
    return buffer.getvalue()


def render(table: Table, file_format: str, name: str) -> tuple[bytes, str, str]:
    """``(content, content type, file name)`` of ``table`` in ``csv`` or ``xlsx``."""
    if file_format == "csv":
        return to_csv(table), CSV_TYPE, f"{name}.csv"
    return to_xlsx(table), XLSX_TYPE, f"{name}.xlsx"


def file_answer(rendered: tuple[bytes, str, str]) -> dict:
    """A rendered file as an RPC answer (JSON): its name, type and base64 content."""
    content, content_type, filename = rendered
    return {
        "filename": filename,
        "content_type": content_type,
        "content_base64": base64.b64encode(content).decode("ascii"),
    }
