"""Dealer orders over HTTP, as users would use them: a partner orders for its protected
customer, HQ approves together, reports count what they should.

Customers are filed and approved through the filing service's API, so this module runs once
that service is part of the stack (``filing`` in ``manage.SERVICES``).
"""

from __future__ import annotations

import csv
import io
import os
import random
from dataclasses import dataclass
from decimal import Decimal

import pytest
from openpyxl import load_workbook

import manage
from gateway.rpc import RpcClient
from services.common.context import Caller
from services.orders.flows import DEFAULT_STEPS
from tests.support.answers import assert_problem, ok
from tests.support.client import Client, unique
from tests.support.world import World

pytestmark = pytest.mark.skipif(
    "filing" not in manage.SERVICES,
    reason="ordering needs protected customers from the filing service, not yet in the stack",
)

ORDERS = "/api/v1/orders"
FLOW = "/api/v1/approval-flows/order"


@dataclass
class Ordering:
    """Two partners of 杭州 with their users, HQ approvers, and two products."""

    world: World
    a: dict
    b: dict
    a_sales: Client
    a_admin: Client
    b_sales: Client
    channel: Client
    sales_ops: Client
    finance: Client
    director: Client
    sales_ops_user: dict
    hq_products: dict

    def customer(self, sales: Client, approve: bool = True, region_code: str = "330106") -> dict:
        """A customer filed by ``sales``'s partner; protected once HQ approves the filing."""
        body = {
            "name": f"测试客户{unique()}有限公司",
            "contact_name": "王先生",
            "phone": f"139{random.randint(0, 99_999_999):08d}",
            "region_code": region_code,
        }
        customer = ok(sales.post("/api/v1/customers", body), 201)
        if approve:
            # The default filing flow: one step, decided by the channel manager.
            decision = {"comment": "同意"}
            ok(self.channel.post(f"/api/v1/filings/{customer['filing']['id']}/approve", decision))
        return ok(self.channel.get(f"/api/v1/customers/{customer['id']}"))

    def order(self, sales: Client, customer: dict, *lines: tuple[str, int, str]) -> dict:
        body = {
            "customer_id": customer["id"],
            "contract_no": unique("HT-"),
            "lines": [
                {"product_id": self.hq_products[sku]["id"], "quantity": qty, "unit_price": price}
                for sku, qty, price in lines
            ],
        }
        return ok(sales.post(ORDERS, body), 201)

    def submitted(self, total: str, sales: Client | None = None) -> dict:
        """An order of one product at its list price ``total`` (no discount), submitted."""
        sales = sales or self.a_sales
        body = {"sku": unique("SKU-"), "name": "整单产品", "unit": "套", "list_price": total}
        product = ok(self.sales_ops.post("/api/v1/products", body), 201)
        self.hq_products[product["sku"]] = product
        order = self.order(sales, self.customer(sales), (product["sku"], 1, total))
        return ok(sales.post(f"{ORDERS}/{order['id']}/submit"))


@pytest.fixture(scope="module")
def ordering(admin: Client, anonymous: Client) -> Ordering:
    world = World(admin, anonymous)
    a, b = world.partner(["330100"]), world.partner(["330100"])
    sales_ops_user = world.user(None, ["sales_ops"])
    sales_ops = world.login(sales_ops_user)
    products = {}
    for key, price in (("big", "200000.00"), ("std", "1000.00")):
        body = {"sku": unique("SKU-"), "name": f"产品 {key}", "unit": "套", "list_price": price}
        products[key] = ok(sales_ops.post("/api/v1/products", body), 201)
    return Ordering(
        world=world,
        a=a,
        b=b,
        a_sales=world.partner_user(a["id"], "partner_sales"),
        a_admin=world.partner_user(a["id"], "partner_admin"),
        b_sales=world.partner_user(b["id"], "partner_sales"),
        channel=world.login(world.user(None, ["channel_manager", "channel_director"])),
        sales_ops=sales_ops,
        finance=world.login(world.user(None, ["finance"])),
        director=world.login(world.user(None, ["channel_director"])),
        sales_ops_user=sales_ops_user,
        hq_products=products,
    )


def approve(client: Client, order: dict, comment: str | None = None) -> dict:
    return ok(client.post(f"{ORDERS}/{order['id']}/approve", {"comment": comment}))


# -- ordering ---------------------------------------------------------------------------


def test_partner_orders_for_its_protected_customer(ordering: Ordering) -> None:
    customer = ordering.customer(ordering.a_sales)
    assert customer["status"] == "protected"

    order = ordering.order(
        ordering.a_sales, customer, ("std", 3, "999.99"), ("big", 1, "150000.00")
    )

    assert order["status"] == "draft"
    assert order["partner_id"] == ordering.a["id"]
    assert order["customer_id"] == customer["id"]
    assert order["total_amount"] == "152999.97"
    assert Decimal(order["total_amount"]) == Decimal("999.99") * 3 + Decimal("150000.00")
    assert [line["amount"] for line in order["lines"]] == ["2999.97", "150000.00"]
    assert order["lines"][1]["discount"] == "0.25"
    assert (order["region_code"], order["province"], order["city"]) == (
        "330106",
        "330000",
        "330100",
    )
    assert order["customer_source"] == "partner"
    assert order["commission"] is None
    assert ok(ordering.a_sales.get(f"{ORDERS}/{order['id']}")) == order


def test_ordering_for_another_partners_customer_or_a_pending_one_is_422(
    ordering: Ordering,
) -> None:
    theirs = ordering.customer(ordering.b_sales)
    pending = ordering.customer(ordering.a_sales, approve=False)
    assert pending["status"] == "pending"
    for customer in (theirs, pending):
        body = {
            "customer_id": customer["id"],
            "contract_no": unique("HT-"),
            "lines": [
                {
                    "product_id": ordering.hq_products["std"]["id"],
                    "quantity": 1,
                    "unit_price": "10.00",
                }
            ],
        }
        assert_problem(ordering.a_sales.post(ORDERS, body), 422, "customer_not_owned")


def test_order_of_120000_needs_three_steps_and_one_of_5000_two(ordering: Ordering) -> None:
    big = ordering.submitted("120000.00")
    small = ordering.submitted("5000.00")
    assert [step["name"] for step in big["steps"]] == ["sales", "finance", "director"]
    assert [step["name"] for step in small["steps"]] == ["sales", "finance"]

    approve(ordering.sales_ops, big, "价格合理")
    approve(ordering.finance, big)
    assert ok(ordering.a_sales.get(f"{ORDERS}/{big['id']}"))["status"] == "submitted"
    done = approve(ordering.director, big, "同意")
    assert done["status"] == "approved"
    assert done["approved_at"].endswith("Z")
    assert [action["user_id"] for step in done["steps"] for action in step["actions"]][:1] == [
        ordering.sales_ops_user["id"]
    ]
    approve(ordering.sales_ops, small)
    assert approve(ordering.finance, small)["status"] == "approved"


def test_approving_out_of_turn_or_without_the_permission_is_403(ordering: Ordering) -> None:
    order = ordering.submitted("120000.00")
    path = f"{ORDERS}/{order['id']}/approve"
    assert_problem(ordering.finance.post(path, {}), 403, "forbidden")
    assert_problem(ordering.director.post(path, {}), 403, "forbidden")
    assert_problem(ordering.a_admin.post(path, {}), 403, "forbidden")
    marketing = ordering.world.login(ordering.world.user(None, ["marketing"]))
    assert_problem(marketing.post(path, {}), 403, "forbidden")
    assert ok(ordering.sales_ops.get(f"{ORDERS}/{order['id']}"))["current_step"]["name"] == "sales"


def restore_default_order_flow() -> None:
    """Put the default order flow back through the service itself."""
    client = RpcClient(os.environ["AMQP_URI"], timeout=10)
    hq = Caller(user_id=1, permissions=frozenset({"flow.manage"}))
    try:
        client.call("orders", "set_approval_flow", {"steps": DEFAULT_STEPS}, caller=hq)
    finally:
        client.close()


def test_an_all_step_waits_for_every_named_approver(ordering: Ordering) -> None:
    second_user = ordering.world.user(None, ["sales_ops"])
    second = ordering.world.login(second_user)
    board = [ordering.sales_ops_user["id"], second_user["id"]]
    flow = {
        "steps": [
            {
                "name": "sales-board",
                "permission": "order.approve.sales",
                "mode": "all",
                "approvers": board,
            },
            {"name": "finance", "permission": "order.approve.finance", "mode": "any"},
        ]
    }
    ok(ordering.director.put(FLOW, flow))
    try:
        order = ordering.submitted("5000.00")
        assert order["current_step"]["approvers"] == board
        order = approve(ordering.sales_ops, order)
        assert order["current_step"]["name"] == "sales-board"
        assert_problem(
            ordering.sales_ops.post(f"{ORDERS}/{order['id']}/approve", {}), 409, "invalid_state"
        )
        order = approve(second, order)
        assert order["current_step"]["name"] == "finance"
        assert approve(ordering.finance, order)["status"] == "approved"
    finally:
        restore_default_order_flow()
    assert ok(ordering.director.get(FLOW))["steps"][2]["condition"] == DEFAULT_STEPS[2]["condition"]


def test_hq_puts_back_the_order_flow_it_read(ordering: Ordering) -> None:
    current = ok(ordering.director.get(FLOW))
    ok(ordering.director.put(FLOW, {"steps": current["steps"]}))


def test_a_rejected_order_is_revised_and_approved(ordering: Ordering) -> None:
    order = ordering.submitted("5000.00")
    path = f"{ORDERS}/{order['id']}"
    assert_problem(ordering.sales_ops.post(f"{path}/reject", {}), 422, "invalid_input")
    rejected = ok(ordering.sales_ops.post(f"{path}/reject", {"comment": "单价需调整"}))
    assert rejected["status"] == "rejected"
    assert_problem(ordering.finance.post(f"{path}/approve", {}), 409, "invalid_state")

    lines = [
        {"product_id": ordering.hq_products["std"]["id"], "quantity": 5, "unit_price": "980.00"}
    ]
    revised = ok(ordering.a_sales.patch(path, {"lines": lines, "notes": "已按意见调整"}))
    assert (revised["status"], revised["total_amount"]) == ("rejected", "4900.00")
    resubmitted = ok(ordering.a_sales.post(f"{path}/submit"))
    assert resubmitted["status"] == "submitted"
    approve(ordering.sales_ops, resubmitted)
    approved = approve(ordering.finance, resubmitted)
    assert approved["status"] == "approved"
    assert [h["action"] for h in approved["history"]] == [
        "created",
        "submitted",
        "rejected",
        "updated",
        "submitted",
        "approved",
        "approved",
    ]


def test_wrong_state_is_409_and_completion_is_hq_fulfilment(ordering: Ordering) -> None:
    order = ordering.submitted("5000.00")
    path = f"{ORDERS}/{order['id']}"
    assert_problem(ordering.a_sales.post(f"{path}/submit"), 409, "invalid_state")
    assert_problem(ordering.a_sales.patch(path, {"notes": "x"}), 409, "invalid_state")
    assert_problem(ordering.sales_ops.post(f"{path}/complete"), 409, "invalid_state")
    approve(ordering.sales_ops, order)
    approve(ordering.finance, order)
    assert_problem(ordering.finance.post(f"{path}/complete"), 403, "forbidden")
    assert ok(ordering.sales_ops.post(f"{path}/complete"))["status"] == "completed"


def test_partner_cancels_before_approval_and_hq_finance_after(ordering: Ordering) -> None:
    early = ordering.submitted("5000.00")
    cancelled = ok(ordering.a_sales.post(f"{ORDERS}/{early['id']}/cancel", {"reason": "客户放弃"}))
    assert cancelled["status"] == "cancelled"

    late = ordering.submitted("5000.00")
    approve(ordering.sales_ops, late)
    approve(ordering.finance, late)
    path = f"{ORDERS}/{late['id']}/cancel"
    assert_problem(ordering.a_sales.post(path, {"reason": "x"}), 403, "forbidden")
    assert ok(ordering.finance.post(path, {"reason": "合同作废"}))["status"] == "cancelled"


def test_a_partner_never_sees_another_partners_order(ordering: Ordering) -> None:
    order = ordering.submitted("5000.00")
    path = f"{ORDERS}/{order['id']}"
    assert_problem(ordering.b_sales.get(path), 404, "not_found")
    assert_problem(ordering.b_sales.get(f"{path}/comments"), 404, "not_found")
    assert_problem(ordering.b_sales.post(f"{path}/comments", {"body": "?"}), 404, "not_found")
    assert_problem(ordering.b_sales.post(f"{path}/cancel", {}), 404, "not_found")
    listed = ok(ordering.b_sales.get(ORDERS, params={"per_page": 100}))
    assert order["id"] not in [item["id"] for item in listed["items"]]


def test_partner_and_hq_discuss_an_order(ordering: Ordering) -> None:
    order = ordering.submitted("5000.00")
    path = f"{ORDERS}/{order['id']}/comments"
    ok(ordering.a_sales.post(path, {"body": "客户催单，请尽快审批"}), 201)
    ok(ordering.sales_ops.post(path, {"body": "今天处理"}), 201)
    assert [c["body"] for c in ok(ordering.a_sales.get(path))] == [
        "客户催单，请尽快审批",
        "今天处理",
    ]
    assert_problem(ordering.a_sales.post(path, {"body": ""}), 422, "invalid_input")


def test_a_partners_sales_report_contains_only_its_own_orders(ordering: Ordering) -> None:
    world = ordering.world
    mine_partner = world.partner(["330100"])
    other_partner = world.partner(["330100"])
    mine, mine_admin = (
        world.partner_user(mine_partner["id"]),
        world.partner_user(mine_partner["id"], "partner_admin"),
    )
    other = world.partner_user(other_partner["id"])
    for sales, total in ((mine, "1000.00"), (mine, "2500.50"), (other, "7000.00")):
        ordering.submitted(total, sales)

    report = ok(mine_admin.get("/api/v1/reports/sales", params={"group_by": "partner,status"}))
    rows = [(r["partner_id"], r["status"], r["order_count"], r["amount"]) for r in report["rows"]]
    assert rows == [(mine_partner["id"], "submitted", 2, "3500.50")]
    assert report["totals"] == {"order_count": 2, "quantity": 2, "amount": "3500.50"}

    as_xlsx = mine_admin.get(
        "/api/v1/reports/sales", params={"group_by": "partner", "format": "xlsx"}
    )
    sheet = load_workbook(io.BytesIO(as_xlsx.content)).active
    values = [list(row) for row in sheet.iter_rows(values_only=True)]
    assert values[1][0] == mine_partner["id"]
    assert values[-1][-1] == pytest.approx(3500.50)
    as_csv = mine_admin.get("/api/v1/reports/sales", params={"format": "csv"})
    rows = list(csv.reader(io.StringIO(as_csv.content.decode("utf-8-sig"))))
    assert rows[-1] == ["2", "2", "3500.50"]

    # Regions are named (by the partners service's dictionary) next to their codes.
    by_region = ok(mine_admin.get("/api/v1/reports/sales", params={"group_by": "province,city"}))
    assert [
        (r["province"], r["province_name"], r["city"], r["city_name"], r["order_count"])
        for r in by_region["rows"]
    ] == [("330000", "浙江省", "330100", "杭州市", 2)]
    summary = ok(mine_admin.get("/api/v1/reports/orders-summary"))
    assert [(r["province_name"], r["city_name"]) for r in summary["rows"]] == [("浙江省", "杭州市")]
    # The summary as a file too: its rows, then 合计, only this partner's orders.
    summary_xlsx = mine_admin.get("/api/v1/reports/orders-summary", params={"format": "xlsx"})
    assert summary_xlsx.status_code == 200, summary_xlsx.text
    sheet = load_workbook(io.BytesIO(summary_xlsx.content)).active
    values = [list(row) for row in sheet.iter_rows(values_only=True)]
    assert values[0][:2] == ["省份代码", "省份"]
    code, name = mine_partner["code"], mine_partner["name"]
    assert values[1][:6] == ["330000", "浙江省", "330100", "杭州市", code, name]
    assert values[1][6:9] == [2, 2, 0]
    assert values[-1][0] == "合计"
    summary_csv = mine_admin.get("/api/v1/reports/orders-summary", params={"format": "csv"})
    rows = list(csv.reader(io.StringIO(summary_csv.content.decode("utf-8-sig"))))
    assert rows[-1][0] == "合计" and rows[-1][-2:] == ["3500.50", "0.00"]
