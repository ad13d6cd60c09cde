"""A broken XLSX import is refused as invalid input, never a 500.

openpyxl's read-only sheet parses lazily: a worksheet whose XML breaks after its header row
(or a zip member with a bad CRC) fails while the rows are read, after the header, and was
an internal error instead of 422 "not a readable XLSX file".
"""

from __future__ import annotations

import io
import zipfile

from openpyxl import Workbook

from tests.support.world import World

LEADS_IMPORT = "/api/v1/leads/import"


def xlsx_broken_after_header(rows: int = 50) -> bytes:
    book = Workbook()
    sheet = book.active
    sheet.append(["客户名称", "联系人", "电话", "地址"])
    for n in range(rows):
        sheet.append([f"导入测试{n}有限公司", "王", f"1380000{n:04d}", "浙江省杭州市西湖区"])
    whole = io.BytesIO()
    book.save(whole)
    source = zipfile.ZipFile(io.BytesIO(whole.getvalue()))
    broken = io.BytesIO()
    with zipfile.ZipFile(broken, "w", zipfile.ZIP_DEFLATED) as archive:
        for member in source.infolist():
            data = source.read(member.filename)
            if member.filename == "xl/worksheets/sheet1.xml":
                data = data[: len(data) // 2]
            archive.writestr(member, data)
    return broken.getvalue()


def test_an_xlsx_broken_after_its_header_is_invalid_input(world: World) -> None:
    marketing = world.login(world.user(None, ["marketing"]))
    response = marketing.post(
        LEADS_IMPORT, files={"file": ("leads.xlsx", xlsx_broken_after_header())}
    )
    assert response.status_code == 422, response.text
    assert response.json()["code"] == "invalid_input"
