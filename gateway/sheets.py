"""Reading uploaded spreadsheets (CSV or XLSX) into rows of strings."""

from __future__ import annotations

import csv
import io
import zipfile
from typing import Any

from openpyxl import load_workbook
from werkzeug.datastructures import FileStorage

from services.common.errors import InvalidInput, PayloadTooLarge
from services.filing.schemas import IMPORT_ROWS_MAX

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
MAX_ROWS = IMPORT_ROWS_MAX
#: An XLSX is a zip: a few hundred kilobytes can unpack to gigabytes of XML. A sheet of
#: 20,000 full rows unpacks to about 10 MB, so MAX_ROWS such rows to about 50 MB; what
#: unpacks beyond the cap is refused before the workbook is opened.
MAX_XLSX_UNPACKED = 64 * 1024 * 1024
#: openpyxl keeps every shared string in memory, and reads rows (empty ones too) one by one.
MAX_SHARED_STRINGS = 10 * MAX_ROWS
MAX_SHEET_ROWS = 5 * MAX_ROWS
_SHARED_STRINGS = "xl/sharedStrings.xml"


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
        if number > MAX_SHEET_ROWS:
            raise PayloadTooLarge(
                f"a sheet of at most {MAX_SHEET_ROWS} rows, empty ones included",
                errors={"file": ["too many rows"]},
            )
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


def _count_in_member(archive: zipfile.ZipFile, name: str, token: bytes) -> int:
    count, carry = 0, b""
    with archive.open(name) as member:
        while chunk := member.read(1024 * 1024):
            window = carry + chunk
            count += window.count(token)
            # Too short to hold a whole token: a token split between chunks is counted once.
            carry = window[-(len(token) - 1) :]
    return count


def check_xlsx_size(data: bytes) -> None:
    """PayloadTooLarge (413) for an XLSX that unpacks beyond ``MAX_XLSX_UNPACKED`` or holds
    more than ``MAX_SHARED_STRINGS`` strings, judged before openpyxl opens it. The sizes
    the zip declares bind: ``zipfile`` yields no more than a member's declared size."""
    try:
        archive = zipfile.ZipFile(io.BytesIO(data))
    except (zipfile.BadZipFile, ValueError, OSError) as exc:
        raise InvalidInput("not a readable XLSX file", errors={"file": [str(exc)[:200]]}) from exc
    with archive:
        unpacked = sum(member.file_size for member in archive.infolist())
        if unpacked > MAX_XLSX_UNPACKED:
            raise PayloadTooLarge(
                f"the XLSX file unpacks to more than {MAX_XLSX_UNPACKED // (1024 * 1024)} MB",
                errors={"file": ["unpacks to too much"]},
            )
        if _SHARED_STRINGS in archive.namelist():
            try:
                strings = _count_in_member(archive, _SHARED_STRINGS, b"<si")
            except (zipfile.BadZipFile, ValueError, OSError, EOFError) as exc:
                raise InvalidInput(
                    "not a readable XLSX file", errors={"file": [str(exc)[:200]]}
                ) from exc
            if strings > MAX_SHARED_STRINGS:
                raise PayloadTooLarge(
                    f"an XLSX file of at most {MAX_SHARED_STRINGS} distinct texts",
                    errors={"file": ["too many texts"]},
                )


def read_rows(upload: FileStorage) -> list[dict]:
    """Rows of a CSV (UTF-8 or GBK) or XLSX file, keyed by header; ``_row`` is the line."""
    data = upload.read()
    name = (upload.filename or "").lower()
    if name.endswith(".xlsx") or data[:2] == b"PK":
        check_xlsx_size(data)
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
        try:
            # openpyxl's read-only sheet parses lazily: a file broken after its header
            # fails here, while the rows are read.
            return _rows(list(header), records)
        except (InvalidInput, PayloadTooLarge):
            raise
        except Exception as exc:
            raise InvalidInput(
                "not a readable XLSX file", errors={"file": [str(exc)[:200]]}
            ) from exc
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
