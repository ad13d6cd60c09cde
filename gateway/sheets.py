"""Reading uploaded spreadsheets (CSV or XLSX) into rows of strings."""

from __future__ import annotations

import csv
import io
from typing import Any

from openpyxl import load_workbook
from werkzeug.datastructures import FileStorage

from services.common.errors import InvalidInput

# Chinese headers users put in their own files, mapped to field names.
HEADER_ALIASES = {
    "客户名称": "name",
    "名称": "name",
    "公司名称": "name",
    "联系人": "contact_name",
    "手机": "phone",
    "手机号": "phone",
    "电话": "phone",
    "联系电话": "phone",
    "地区代码": "region_code",
    "行政区划代码": "region_code",
    "地址": "address",
    "备注": "notes",
}
MAX_ROWS = 20_000  # about two minutes of import; larger files time out


def _header(value: Any) -> str:
    text = str(value or "").strip().lstrip("\ufeff")
    return HEADER_ALIASES.get(text, text.lower())


def _cell(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, float) and value.is_integer():
        value = int(value)  # a region code typed as a number
    return str(value).strip()


def _rows(header: list[Any], records: Any) -> list[dict]:
    names = [_header(h) for h in header]
    rows = []
    for number, record in enumerate(records, start=2):
        values = [_cell(v) for v in record]
        if not any(values):
            continue
        row = {name: value for name, value in zip(names, values, strict=False) if name}
        row["_row"] = number
        rows.append(row)
        if len(rows) > MAX_ROWS:
            raise InvalidInput(
                f"at most {MAX_ROWS} rows per file", errors={"file": ["too many rows"]}
            )
    return rows


def read_rows(upload: FileStorage) -> list[dict]:
    """Rows of a CSV (UTF-8 or GBK) or XLSX file, keyed by header; ``_row`` is the line."""
    data = upload.read()
    name = (upload.filename or "").lower()
    if name.endswith(".xlsx") or data[:2] == b"PK":
        try:
            sheet = load_workbook(io.BytesIO(data), read_only=True, data_only=True).active
            records = sheet.iter_rows(values_only=True)
            header = next(records, None)
        except Exception as exc:
            raise InvalidInput(
                "not a readable XLSX file", errors={"file": [str(exc)[:200]]}
            ) from exc
        if header is None:
            raise InvalidInput("the file is empty", errors={"file": ["empty"]})
        return _rows(list(header), records)
    for encoding in ("utf-8-sig", "gb18030"):
        try:
            text = data.decode(encoding)
            break
        except UnicodeDecodeError:
            continue
    else:
        raise InvalidInput("the file is neither UTF-8 nor GBK text", errors={"file": ["encoding"]})
    reader = csv.reader(io.StringIO(text))
    header = next(reader, None)
    if not header:
        raise InvalidInput("the file is empty", errors={"file": ["empty"]})
    return _rows(header, reader)
