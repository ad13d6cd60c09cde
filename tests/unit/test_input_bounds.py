"""Input refused before anything is stored: JSON the gateway's parser cannot read exactly,
amounts a NUMERIC(14, 2) column cannot hold (order lines and totals, order events), XLSX
files that unpack beyond the cap."""

from __future__ import annotations

import io
import re
import zipfile
from decimal import Decimal

import pytest
from marshmallow import ValidationError
from openpyxl import Workbook
from werkzeug.datastructures import FileStorage

from gateway.bodies import MAX_JSON_DEPTH, parse_json_body
from gateway.sheets import MAX_SHARED_STRINGS, MAX_SHEET_ROWS, check_xlsx_size, read_rows
from services.common.errors import BadRequest, InvalidInput, PayloadTooLarge
from services.common.money import MAX_MONEY, fits_money_column
from services.common.schemas import load
from services.orders.events import OrderApproved, OrderCancelled
from services.orders.schemas import OrderCreate, OrderUpdate
from tests.support.events import approved_event

# -- JSON ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "raw",
    [
        b"[" * 100_000,
        b'{"a":' * 50_000 + b"1" + b"}" * 50_000,
        b"[" * (MAX_JSON_DEPTH + 1) + b"]" * (MAX_JSON_DEPTH + 1),
        b'{"quantity": ' + b"9" * 5001 + b"}",
        b'{"quantity": 1e999}',
        b'{"quantity": -1e400}',
        b'{"quantity": NaN}',
        b'{"quantity": Infinity}',
        b"\xff\xfe{}",
        b"{",
    ],
)
def test_json_the_parser_cannot_read_exactly_is_malformed(raw: bytes) -> None:
    with pytest.raises(BadRequest) as refused:
        parse_json_body(raw)
    assert (refused.value.status, refused.value.code) == (400, "malformed")


def test_ordinary_json_is_read_as_it_is() -> None:
    nested = b"[" * MAX_JSON_DEPTH + b"]" * MAX_JSON_DEPTH
    assert parse_json_body(b'{"a": 1.5, "b": [1, {"c": null}], "d": "\xe6\x9d\xad"}') == {
        "a": 1.5,
        "b": [1, {"c": None}],
        "d": "杭",
    }
    assert parse_json_body(nested) is not None
    assert parse_json_body(b"1" * 4300) == int("1" * 4300)


# -- amounts ------------------------------------------------------------------------------


def order(*lines: tuple[int, str]) -> dict:
    return {
        "customer_id": 1,
        "contract_no": "HT-1",
        "lines": [
            {"product_id": n + 1, "quantity": quantity, "unit_price": price}
            for n, (quantity, price) in enumerate(lines)
        ],
    }


def test_the_money_bound_is_the_column_and_holds_either_sign() -> None:
    assert fits_money_column(MAX_MONEY) and fits_money_column(-MAX_MONEY)
    assert not fits_money_column(MAX_MONEY + Decimal("0.01"))
    assert not fits_money_column(-MAX_MONEY - Decimal("0.01"))


def test_a_line_beyond_the_column_names_its_unit_price() -> None:
    with pytest.raises(InvalidInput) as refused:
        load(OrderCreate, order((1, "1.00"), (1_000_000, "1000000.00")))
    assert "unit_price" in refused.value.errors["lines"][1]


@pytest.mark.parametrize("schema", [OrderCreate, OrderUpdate])
def test_a_total_beyond_the_column_names_the_lines(schema) -> None:
    body = order((1, "600000000000.00"), (1, "400000000000.00"))
    if schema is OrderUpdate:
        del body["customer_id"]
    with pytest.raises(InvalidInput) as refused:
        load(schema, body)
    assert "total" in refused.value.errors["lines"][0]


def test_the_largest_total_the_column_holds_is_taken() -> None:
    loaded = load(OrderCreate, order((1, "999999999000.00"), (1, "999.99")))
    assert sum(line["unit_price"] for line in loaded["lines"]) == MAX_MONEY


# -- XLSX ---------------------------------------------------------------------------------


def workbook(*rows: list) -> bytes:
    book = Workbook()
    for row in rows:
        book.active.append(row)
    out = io.BytesIO()
    book.save(out)
    return out.getvalue()


def repacked(content: bytes, name: str, change) -> bytes:
    out = io.BytesIO()
    with (
        zipfile.ZipFile(io.BytesIO(content)) as source,
        zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as target,
    ):
        for info in source.infolist():
            data = source.read(info.filename)
            target.writestr(info.filename, change(data) if info.filename == name else data)
        if name not in source.namelist():
            target.writestr(name, change(b""))
    return out.getvalue()


HEADER = ["name", "contact_name", "phone", "region_code"]
ROW = ["杭州某某公司", "王", "13800138000", "330106"]


def test_an_xlsx_whose_sheet_unpacks_beyond_the_cap_is_413() -> None:
    def pad(data: bytes) -> bytes:
        return data.replace(b"<sheetData>", b"<sheetData>" + b" " * (80 * 1024 * 1024))

    bomb = repacked(workbook(HEADER, ROW), "xl/worksheets/sheet1.xml", pad)
    assert len(bomb) < 1024 * 1024
    with pytest.raises(PayloadTooLarge):
        check_xlsx_size(bomb)


def test_an_xlsx_of_too_many_shared_strings_is_413() -> None:
    def strings(data: bytes) -> bytes:
        items = b"<si><t/></si>" * (MAX_SHARED_STRINGS + 1)
        return b'<sst xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main">' + (
            items + b"</sst>"
        )

    content = repacked(workbook(HEADER, ROW), "xl/sharedStrings.xml", strings)
    with pytest.raises(PayloadTooLarge):
        check_xlsx_size(content)


def test_an_xlsx_of_too_many_empty_rows_is_413() -> None:
    def empty_rows(data: bytes) -> bytes:
        rows = b"".join(b'<row r="%d"/>' % n for n in range(3, MAX_SHEET_ROWS + 10))
        # Without the sheet's declared dimension openpyxl reads every row there is.
        data = re.sub(rb"<dimension [^>]*>", b"", data)
        return data.replace(b"</sheetData>", rows + b"</sheetData>")

    content = repacked(workbook(HEADER, ROW), "xl/worksheets/sheet1.xml", empty_rows)
    check_xlsx_size(content)  # small when unpacked: the row count stops it
    with pytest.raises(PayloadTooLarge):
        read_rows(FileStorage(io.BytesIO(content), "leads.xlsx"))


def test_an_ordinary_xlsx_is_read() -> None:
    rows = read_rows(FileStorage(io.BytesIO(workbook(HEADER, ROW)), "leads.xlsx"))
    assert rows == [dict(zip(HEADER, ROW, strict=True)) | {"_row": 2}]


def test_a_file_that_is_not_a_zip_is_invalid_input() -> None:
    with pytest.raises(InvalidInput):
        check_xlsx_size(b"PK not a zip")


def _cancelled() -> dict:
    return {
        "order_id": 1,
        "partner_id": 1,
        "customer_id": 1,
        "contract_no": "HT-1",
        "was_approved": True,
        "approved_at": "2025-06-15T02:00:00Z",
        "total_amount": "1.00",
        "customer_source": "partner",
        "reason": "the customer withdrew",
        "cancelled_at": "2025-06-16T02:00:00Z",
    }


@pytest.mark.parametrize(
    ("schema", "data"),
    [(OrderApproved, lambda: approved_event(1)["data"]), (OrderCancelled, _cancelled)],
)
def test_an_order_event_whose_total_no_column_holds_is_refused(schema, data) -> None:
    """Orders' event schemas, through which commission and filing read the events."""
    schema().load(data() | {"total_amount": str(MAX_MONEY)})
    with pytest.raises(ValidationError) as refused:
        schema().load(data() | {"total_amount": str(MAX_MONEY + Decimal("0.01"))})
    assert "total_amount" in refused.value.messages
