"""Payment reminders (回款提醒), the receivables report (应收账龄) and the collections report
(回款报表) over HTTP with every service running (DOMAIN.md, "Payments received (回款) and
credit").

The partners are city partners of 西宁 (630100), customers in 城东区 (630102), and of 银川
(640100), customers in 兴庆区 (640104): no other test's partner covers these regions. Time
moves only through ``manage.py testing age-order`` (``tests.support.orders_api``).
"""

from __future__ import annotations

import csv
import io
import time
from collections import defaultdict
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal

import pytest
from openpyxl import load_workbook

import manage
from tests.support.answers import assert_problem, ok
from tests.support.approvals import StepApprovers
from tests.support.client import Client, unique
from tests.support.filing_api import FILINGS, customer_body, file_customer
from tests.support.orders_api import age_order
from tests.support.waiting import wait_for
from tests.support.world import World

pytestmark = pytest.mark.skipif(
    "filing" not in manage.SERVICES,
    reason="ordering needs protected customers from the filing service",
)

ORDERS = "/api/v1/orders"
RECEIVABLES = "/api/v1/reports/receivables"
COLLECTIONS = "/api/v1/reports/collections"
XINING, XINING_DISTRICT = "630100", "630102"
YINCHUAN, YINCHUAN_DISTRICT = "640100", "640104"
ZERO = "0.00"


def today() -> date:
    return datetime.now(UTC).date()


@dataclass
class Receivables:
    world: World
    approvers: StepApprovers
    finance: Client
    finance_user: dict
    a: dict
    b: dict
    a_sales: Client
    a_admin: Client
    b_sales: Client
    b_admin: Client

    def approved(self, sales: Client, district: str, total: str) -> dict:
        """An order of ``total`` of ``sales``'s partner, for a new protected customer in
        ``district``, approved."""
        customer = file_customer(sales, customer_body(district))
        self.approvers.approve_all(f"{FILINGS}/{customer['filing']['id']}")
        body = {"sku": unique("SKU-"), "name": "账龄测试产品", "unit": "套", "list_price": total}
        product = ok(self.approvers.nth(0).post("/api/v1/products", body), 201)
        order = ok(
            sales.post(
                ORDERS,
                {
                    "customer_id": customer["id"],
                    "contract_no": unique("HT-"),
                    "lines": [{"product_id": product["id"], "quantity": 1, "unit_price": total}],
                },
            ),
            201,
        )
        ok(sales.post(f"{ORDERS}/{order['id']}/submit"))
        approved = self.approvers.approve_all(f"{ORDERS}/{order['id']}")
        assert approved["status"] == "approved", approved
        return approved

    def pay(self, order_id: int, amount: str, on: date, kind: str = "receipt") -> dict:
        body = {
            "amount": amount,
            "received_on": on.isoformat(),
            "method": "bank_transfer",
            "kind": kind,
        }
        return ok(self.finance.post(f"{ORDERS}/{order_id}/payments", body), 201)


@pytest.fixture(scope="module")
def rec(admin: Client, anonymous: Client) -> Receivables:
    world = World(admin, anonymous)
    a, b = world.partner([XINING]), world.partner([YINCHUAN])
    finance_user = world.user(None, ["finance"])
    return Receivables(
        world=world,
        approvers=StepApprovers(world),
        finance=world.login(finance_user),
        finance_user=finance_user,
        a=a,
        b=b,
        a_sales=world.partner_user(a["id"]),
        a_admin=world.partner_user(a["id"], "partner_admin"),
        b_sales=world.partner_user(b["id"]),
        b_admin=world.partner_user(b["id"], "partner_admin"),
    )


def reminders(client: Client, kind: str, order_id: int) -> list[dict]:
    """The caller's messages of ``kind`` about order ``order_id``."""
    items = ok(client.get("/api/v1/notifications", params={"kind": kind, "per_page": 100}))
    return [item for item in items["items"] if item["subject_id"] == order_id]


def row_of(report: dict, partner_id: int) -> dict:
    rows = [row for row in report["rows"] if row["partner_id"] == partner_id]
    assert len(rows) == 1, report
    return rows[0]


def buckets(row: dict) -> tuple[str, ...]:
    return tuple(row[key] for key in ("not_due", "1_30", "31_60", "61_90", "over_90", "total"))


def test_reminders_ageing_and_collections_of_an_order_with_a_plan(rec: Receivables) -> None:
    start = today()
    order = rec.approved(rec.a_sales, XINING_DISTRICT, "100000.00")
    plan = {
        "installments": [
            {"due_date": (start + timedelta(days=2)).isoformat(), "amount": "30000.00"},
            {"due_date": (start + timedelta(days=40)).isoformat(), "amount": "70000.00"},
        ]
    }
    ok(rec.finance.put(f"{ORDERS}/{order['id']}/payment-plan", plan))
    # The other partner's order follows the default plan: 20,000.00 due in 30 days.
    other = rec.approved(rec.b_sales, YINCHUAN_DISTRICT, "20000.00")

    # Due in 2 days: the partner's sales and HQ finance are told once, whatever the ticks.
    for client in (rec.a_sales, rec.finance):
        wait_for(
            lambda c=client: reminders(c, "payment_due_soon", order["id"]),
            what="the due-soon reminder",
        )
    time.sleep(3)  # several ticks of the timer (0.2 to 0.5 s each)
    told = reminders(rec.a_sales, "payment_due_soon", order["id"])
    assert len(told) == 1, told
    assert "30,000.00" in told[0]["body"] and "第 1 期" in told[0]["body"], told
    assert len(reminders(rec.finance, "payment_due_soon", order["id"])) == 1
    assert reminders(rec.a_sales, "payment_overdue", order["id"]) == []
    assert reminders(rec.b_sales, "payment_due_soon", other["id"]) == []  # due in 30 days

    # 45 days later: 30,000.00 is 43 days overdue, 70,000.00 5 days; the default plan of
    # the other order, aged 31 days, is 1 day overdue.
    age_order(order["id"], 45)
    age_order(other["id"], 31)
    overdue = wait_for(
        lambda: len(found := reminders(rec.a_sales, "payment_overdue", order["id"])) == 2 and found,
        what="an overdue reminder of each installment",
    )
    assert sorted("第 1 期" in item["body"] for item in overdue) == [False, True]
    wait_for(
        lambda: len(reminders(rec.finance, "payment_overdue", order["id"])) == 2,
        what="finance's overdue reminders",
    )
    wait_for(
        lambda: reminders(rec.b_sales, "payment_overdue", other["id"]),
        what="the default plan's overdue reminder",
    )
    time.sleep(3)
    assert len(reminders(rec.a_sales, "payment_overdue", order["id"])) == 2  # weekly, not daily
    assert len(reminders(rec.b_sales, "payment_overdue", other["id"])) == 1
    assert reminders(rec.a_sales, "payment_overdue", other["id"]) == []

    report = ok(rec.finance.get(RECEIVABLES, params={"group_by": "partner"}))
    assert report["as_of"] == start.isoformat()
    assert buckets(row_of(report, rec.a["id"])) == (
        ZERO,
        "70000.00",
        "30000.00",
        ZERO,
        ZERO,
        "100000.00",
    )
    assert buckets(row_of(report, rec.b["id"])) == (ZERO, "20000.00", ZERO, ZERO, ZERO, "20000.00")
    # 25 days ago: the first installment was 18 days overdue, the rest not due.
    as_of = (start - timedelta(days=25)).isoformat()
    earlier = ok(rec.finance.get(RECEIVABLES, params={"group_by": "partner", "as_of": as_of}))
    assert buckets(row_of(earlier, rec.a["id"])) == (
        "70000.00",
        "30000.00",
        ZERO,
        ZERO,
        ZERO,
        "100000.00",
    )
    assert buckets(row_of(earlier, rec.b["id"])) == ("20000.00", ZERO, ZERO, ZERO, ZERO, "20000.00")
    by_region = ok(rec.finance.get(RECEIVABLES, params={"group_by": "province,city"}))
    xining = [row for row in by_region["rows"] if row["city"] == XINING]
    assert [(r["province"], r["province_name"], r["city_name"], r["total"]) for r in xining] == [
        ("630000", "青海省", "西宁市", "100000.00")
    ]

    # A receipt of 40,000.00 pays the first installment, then 10,000.00 of the second.
    first_day = start - timedelta(days=20)
    rec.pay(order["id"], "40000.00", first_day)
    report = ok(rec.finance.get(RECEIVABLES, params={"group_by": "partner"}))
    assert buckets(row_of(report, rec.a["id"])) == (ZERO, "60000.00", ZERO, ZERO, ZERO, "60000.00")
    rec.pay(order["id"], "10000.00", start)
    rec.pay(order["id"], "2000.00", start, kind="refund")
    report = ok(rec.finance.get(RECEIVABLES, params={"group_by": "partner"}))
    assert buckets(row_of(report, rec.a["id"])) == (ZERO, "52000.00", ZERO, ZERO, ZERO, "52000.00")

    # Collections by month and partner: net of the refund, per month received.
    expected: dict[str, Decimal] = defaultdict(Decimal)
    expected[f"{first_day:%Y-%m}"] += Decimal("40000.00")
    expected[f"{start:%Y-%m}"] += Decimal("8000.00")
    window = {"from": (start - timedelta(days=60)).isoformat(), "to": start.isoformat()}
    collected = ok(rec.finance.get(COLLECTIONS, params={"group_by": "month,partner", **window}))
    mine = [
        (row["month"], row["amount"], row["partner_name"])
        for row in collected["rows"]
        if row["partner_id"] == rec.a["id"]
    ]
    assert mine == [
        (month, f"{amount:.2f}", rec.a["name"]) for month, amount in sorted(expected.items())
    ]
    only_a = {"group_by": "month", "partner_id": rec.a["id"], **window}
    collected = ok(rec.finance.get(COLLECTIONS, params=only_a))
    assert collected["totals"] == {
        "received": "50000.00",
        "refunded": "2000.00",
        "amount": "48000.00",
        "payment_count": 3,
    }
    before = ok(
        rec.finance.get(
            COLLECTIONS,
            params={"partner_id": rec.a["id"], "to": (first_day - timedelta(days=1)).isoformat()},
        )
    )
    assert before["totals"]["amount"] == ZERO

    # The files: CSV and XLSX, with their 合计 row.
    as_csv = rec.finance.get(COLLECTIONS, params=only_a | {"format": "csv"})
    assert as_csv.status_code == 200, as_csv.text
    rows = list(csv.reader(io.StringIO(as_csv.content.decode("utf-8-sig"))))
    assert rows[0] == ["月份", "回款（元）", "退款（元）", "净回款（元）", "笔数"]
    assert rows[-1] == ["合计", "50000.00", "2000.00", "48000.00", "3"]
    as_xlsx = rec.finance.get(
        RECEIVABLES, params={"group_by": "partner", "partner_id": rec.a["id"], "format": "xlsx"}
    )
    assert as_xlsx.status_code == 200, as_xlsx.text
    sheet = load_workbook(io.BytesIO(as_xlsx.content)).active
    assert sheet is not None
    values = [list(row) for row in sheet.iter_rows(values_only=True)]
    assert values[1][:3] == [rec.a["id"], rec.a["code"], rec.a["name"]]
    assert values[-1][0] == "合计"
    assert values[-1][-1] == pytest.approx(52000.00)
    exports = wait_for(
        lambda: (
            (
                found := ok(
                    rec.world.admin.get(
                        "/api/v1/audit",
                        params={"action": "report_exported", "actor_id": rec.finance_user["id"]},
                    )
                )["items"]
            )
            and len(found) >= 2
            and found
        ),
        what="the exports' audit records",
    )
    assert {item["subject_id"] for item in exports} == {"receivables", "collections"}

    # A partner sees its own rows only; the other partner's order is not there at all.
    own = ok(rec.a_admin.get(RECEIVABLES, params={"group_by": "partner"}))
    assert [row["partner_id"] for row in own["rows"]] == [rec.a["id"]]
    assert own["totals"]["total"] == "52000.00"
    theirs = ok(rec.b_admin.get(RECEIVABLES, params={"group_by": "partner"}))
    assert [(row["partner_id"], row["total"]) for row in theirs["rows"]] == [
        (rec.b["id"], "20000.00")
    ]
    assert ok(rec.b_admin.get(COLLECTIONS, params={"group_by": "partner"}))["rows"] == []
    asked = ok(rec.b_admin.get(COLLECTIONS, params={"partner_id": rec.a["id"]}))
    assert asked["totals"]["amount"] == ZERO


def test_the_reports_need_report_read(rec: Receivables) -> None:
    nobody = rec.world.login(rec.world.user(None, []))
    for path in (RECEIVABLES, COLLECTIONS):
        assert_problem(nobody.get(path), 403, "forbidden")
        assert_problem(nobody.get(path, params={"format": "csv"}), 403, "forbidden")
    # Partner sales users hold no report.read either.
    assert_problem(rec.a_sales.get(RECEIVABLES), 403, "forbidden")
    assert_problem(rec.finance.get(RECEIVABLES, params={"group_by": "month"}), 422, "invalid_input")
    assert_problem(
        rec.finance.get(COLLECTIONS, params={"from": "2026-02-01", "to": "2026-01-01"}),
        422,
        "invalid_input",
    )
