"""A report downloaded from the console as an Excel file (Playwright's download) and read
back with openpyxl. Region of this module: 景德镇 昌江区 (360202)."""

from __future__ import annotations

from decimal import Decimal

import pytest
from openpyxl import load_workbook

from tests.support.answers import ok
from tests.support.browser_data import (
    Person,
    dealer,
    draft_order,
    person,
    product,
    protected_customer,
)
from tests.support.client import Client
from tests.support.world import World


class People:
    def __init__(self, world: World) -> None:
        self.sales_ops: Person = person(world, None, ["sales_ops"], "销售运营")
        self.finance: Person = person(world, None, ["finance"], "财务")
        channel = person(world, None, ["channel_manager"], "渠道经理")
        self.dealer = dealer(world, ["360200"])
        customer = protected_customer(self.dealer, channel.client, "360202")
        item = product(self.sales_ops.client, "8000.00")
        order = draft_order(self.dealer, customer, item, quantity=3)
        path = f"/api/v1/orders/{order['id']}"
        ok(self.dealer.sales.client.post(f"{path}/submit"))
        for approver in (self.sales_ops, self.finance):
            if ok(approver.client.get(path))["status"] == "approved":
                break
            ok(approver.client.post(f"{path}/approve", {"comment": "同意"}))
        self.order = ok(self.finance.client.get(path))
        assert self.order["status"] == "approved", self.order


@pytest.fixture(scope="module")
def people(admin: Client, anonymous: Client) -> People:
    return People(World(admin, anonymous))


def test_the_sales_report_downloads_as_an_excel_file_with_its_totals(
    browse, people: People
) -> None:
    seen = browse("report_download", hq=people.finance.login, tab="sales")

    assert seen["suggested"].endswith(".xlsx")
    sheet = load_workbook(seen["path"]).active
    rows = list(sheet.iter_rows(values_only=True))
    header, body, totals = rows[0], rows[1:-1], rows[-1]
    assert "省份" in header and "金额（元）" in header, header
    assert totals[0] == "合计"
    amount = header.index("金额（元）")
    provinces = {row[header.index("省份")]: row for row in body}
    assert Decimal(str(provinces["江西省"][amount])) >= Decimal("24000")
    assert sum(Decimal(str(row[amount])) for row in body) == Decimal(str(totals[amount]))
    # The page showed the same figures as the file.
    assert any(line.startswith("江西省") for line in seen["shown"])
    assert seen["shown"][-1].startswith("合计")
