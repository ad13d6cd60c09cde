"""Products, reports and order reads over HTTP: what needs no protected customer (so no
filing service). Ordering itself is in test_orders.py."""

from __future__ import annotations

import csv
import io

import pytest
from openpyxl import load_workbook

from tests.support.answers import assert_problem
from tests.support.client import Client, unique
from tests.support.world import World

PRODUCTS = "/api/v1/products"
SALES = "/api/v1/reports/sales"


def product_body(**fields: object) -> dict:
    return {
        "sku": unique("SKU-"),
        "name": "智能终端",
        "unit": "台",
        "list_price": "3999.00",
    } | fields


@pytest.fixture
def sales_ops(world: World) -> Client:
    return world.login(world.user(None, ["sales_ops"]))


def test_sales_ops_adds_a_product_that_partners_read(sales_ops: Client, world: World) -> None:
    body = product_body(list_price="12000.5")
    response = sales_ops.post(PRODUCTS, body)
    assert response.status_code == 201, response.text
    product = response.json()
    assert product["list_price"] == "12000.50"
    assert product["active"] is True

    partner = world.partner_user(world.partner(["330100"])["id"])
    assert partner.get(f"{PRODUCTS}/{product['id']}").json() == product
    listed = partner.get(PRODUCTS, params={"q": body["sku"]}).json()
    assert [item["id"] for item in listed["items"]] == [product["id"]]


def test_partners_and_hq_users_without_product_manage_cannot_add_products(
    world: World,
) -> None:
    partner_admin = world.partner_user(world.partner(["330100"])["id"], "partner_admin")
    assert_problem(partner_admin.post(PRODUCTS, product_body()), 403, "forbidden")
    finance = world.login(world.user(None, ["finance"]))
    assert_problem(finance.post(PRODUCTS, product_body()), 403, "forbidden")


def test_duplicate_sku_is_a_conflict(sales_ops: Client) -> None:
    body = product_body()
    assert sales_ops.post(PRODUCTS, body).status_code == 201
    assert_problem(sales_ops.post(PRODUCTS, body | {"name": "另一个"}), 409, "sku_taken")


@pytest.mark.parametrize("price", [3999.5, "3999.505", "-1", "0", "free"])
def test_a_list_price_that_is_not_a_positive_decimal_string_is_invalid_input(
    sales_ops: Client, price: object
) -> None:
    problem = assert_problem(
        sales_ops.post(PRODUCTS, product_body(list_price=price)), 422, "invalid_input"
    )
    assert "list_price" in problem["errors"]


def test_a_deactivated_product_is_listed_as_inactive(sales_ops: Client) -> None:
    product = sales_ops.post(PRODUCTS, product_body()).json()
    response = sales_ops.patch(f"{PRODUCTS}/{product['id']}", {"active": False, "unit": "套"})
    assert response.status_code == 200, response.text
    assert (response.json()["active"], response.json()["unit"]) == (False, "套")
    inactive = sales_ops.get(PRODUCTS, params={"active": "false", "per_page": 100}).json()
    assert product["id"] in [item["id"] for item in inactive["items"]]
    assert_problem(
        sales_ops.patch(f"{PRODUCTS}/{product['id']}", {"sku": "X"}), 422, "invalid_input"
    )


def test_unknown_product_and_unknown_order_are_not_found(sales_ops: Client) -> None:
    assert_problem(sales_ops.get(f"{PRODUCTS}/987654321"), 404, "not_found")
    assert_problem(sales_ops.get("/api/v1/orders/987654321"), 404, "not_found")


def test_a_new_partner_lists_no_orders(world: World) -> None:
    partner = world.partner_user(world.partner(["330100"])["id"])
    response = partner.get("/api/v1/orders")
    assert response.status_code == 200, response.text
    assert response.json() == {"items": [], "total": 0, "page": 1, "per_page": 20}


def test_partners_cannot_approve_complete_or_read_reports_without_the_right(world: World) -> None:
    sales = world.partner_user(world.partner(["330100"])["id"], "partner_sales")
    assert_problem(sales.post("/api/v1/orders/1/approve", {}), 403, "forbidden")
    assert_problem(sales.post("/api/v1/orders/1/complete"), 403, "forbidden")
    assert_problem(sales.get(SALES), 403, "forbidden")


def test_sales_report_answers_json_csv_and_xlsx(world: World) -> None:
    director = world.login(world.user(None, ["channel_director"]))
    query = {"group_by": "province,month", "from": "2001-01-01", "to": "2001-12-31"}
    body = director.get(SALES, params=query).json()
    assert body["rows"] == []
    assert body["totals"] == {"order_count": 0, "quantity": 0, "amount": "0.00"}

    as_csv = director.get(SALES, params=query | {"format": "csv"})
    assert as_csv.status_code == 200, as_csv.text
    assert as_csv.headers["Content-Type"].startswith("text/csv")
    assert "attachment" in as_csv.headers["Content-Disposition"]
    rows = list(csv.reader(io.StringIO(as_csv.content.decode("utf-8-sig"))))
    assert rows == [
        ["省份代码", "省份", "月份", "订单数", "数量", "金额（元）"],
        ["合计", "", "", "0", "0", "0.00"],
    ]

    as_xlsx = director.get(SALES, params=query | {"format": "xlsx"})
    assert as_xlsx.status_code == 200
    sheet = load_workbook(io.BytesIO(as_xlsx.content)).active
    assert [cell.value for cell in sheet[1]] == [
        "省份代码",
        "省份",
        "月份",
        "订单数",
        "数量",
        "金额（元）",
    ]


@pytest.mark.parametrize(
    "query",
    [
        {"group_by": "province,colour"},
        {"format": "pdf"},
        {"from": "2026-02-30"},
        {"from": "2026-03-02", "to": "2026-03-01"},
        {"status": "lost"},
    ],
)
def test_malformed_report_queries_are_invalid_input(world: World, query: dict) -> None:
    director = world.login(world.user(None, ["channel_director"]))
    assert_problem(director.get(SALES, params=query), 422, "invalid_input")


def test_order_summary_answers_rows_and_totals(world: World) -> None:
    director = world.login(world.user(None, ["channel_director"]))
    response = director.get(
        "/api/v1/reports/orders-summary", params={"from": "2001-01-01", "to": "2001-01-31"}
    )
    assert response.status_code == 200, response.text
    assert response.json()["rows"] == []
    assert response.json()["totals"]["approved_amount"] == "0.00"
