"""Bad input answers a problem (400, 413 or 422), never a 500, nor a number read back wrong.

- A JSON body the parser cannot turn into data (nested beyond any payload's shape, an
  integer of thousands of digits, a number beyond a float, ``NaN``) is 400 ``malformed``,
  on every body route and whatever the JSON media type is spelt.
- Order lines and totals that a NUMERIC(14, 2) column cannot hold are 422 naming the field.
- An XLSX lead import whose sheets unpack to more than the cap is 413 before it is read.
"""

from __future__ import annotations

import io
import random
import zipfile

import pytest
from openpyxl import Workbook

from tests.support.answers import assert_problem
from tests.support.client import Client, unique
from tests.support.world import World

API = "/api/v1"
MAX_MONEY = "999999999999.99"

NESTED = "[" * 100_000
HUGE_INTEGER = "1" * 5001
BODIES = {
    "nested_arrays": NESTED,
    "nested_objects": '{"a":' * 50_000 + "1" + "}" * 50_000,
    "deep_but_not_recursive": '{"name":' + "[" * 900 + "]" * 900 + "}",
    "huge_integer": '{"username": ' + HUGE_INTEGER + ', "password": "x"}',
    "huge_float": '{"username": "admin", "password": 1e999}',
    "nan": '{"username": NaN, "password": "x"}',
    "infinity": '{"username": "admin", "password": -Infinity}',
}


def send(client: Client, method: str, path: str, body: str, content_type: str):
    return client.request(method, path, data=body.encode(), headers={"Content-Type": content_type})


@pytest.mark.parametrize("kind", sorted(BODIES))
def test_an_unparseable_login_body_is_400_malformed(anonymous: Client, kind: str) -> None:
    response = send(anonymous, "POST", f"{API}/auth/login", BODIES[kind], "application/json")
    assert_problem(response, 400, "malformed")


@pytest.fixture(scope="module")
def clients(admin: Client, anonymous: Client) -> dict[str, Client]:
    world = World(admin, anonymous)
    sales = world.partner_user(world.partner(["330100"])["id"], "partner_sales")
    return {"admin": admin, "sales": sales, "anonymous": anonymous}


@pytest.mark.parametrize(
    ("who", "method", "path"),
    [
        ("admin", "POST", "/partners"),
        ("sales", "POST", "/customers/check"),
        ("sales", "POST", "/orders"),
        ("admin", "PUT", "/approval-flows/order"),
        ("admin", "PATCH", "/users/1"),
        ("anonymous", "POST", "/auth/refresh"),
    ],
)
@pytest.mark.parametrize("kind", ["nested_arrays", "huge_integer", "huge_float"])
def test_every_body_route_answers_400_malformed(
    clients: dict[str, Client], who: str, method: str, path: str, kind: str
) -> None:
    response = send(clients[who], method, f"{API}{path}", BODIES[kind], "application/json")
    assert_problem(response, 400, "malformed")


@pytest.mark.parametrize(
    "content_type",
    [
        "application/json; charset=utf-8",
        "Application/JSON",
        "application/merge-patch+json",
        "application/vnd.prm+json; charset=UTF-8",
    ],
)
def test_any_spelling_of_json_is_parsed_the_same_way(anonymous: Client, content_type: str) -> None:
    for kind in ("nested_arrays", "huge_integer"):
        response = send(anonymous, "POST", f"{API}/auth/login", BODIES[kind], content_type)
        assert_problem(response, 400, "malformed")


def test_the_stack_keeps_serving_after_malformed_bodies(anonymous: Client, admin: Client) -> None:
    for _ in range(5):
        send(anonymous, "POST", f"{API}/auth/login", NESTED, "application/json")
    assert admin.get(f"{API}/me").status_code == 200


# -- money beyond NUMERIC(14, 2) ---------------------------------------------------------


class Shop:
    """A partner with a protected customer, and two products, to order with."""

    def __init__(self, world: World) -> None:
        partner = world.partner(["330100"])
        self.sales = world.partner_user(partner["id"], "partner_sales")
        channel = world.login(world.user(None, ["channel_manager"]))
        ops = world.login(world.user(None, ["sales_ops"]))
        self.products = []
        for price in ("1000.00", MAX_MONEY):
            body = {"sku": unique("SKU-"), "name": "产品", "unit": "套", "list_price": price}
            response = ops.post(f"{API}/products", body)
            assert response.status_code == 201, response.text
            self.products.append(response.json())
        body = {
            "name": f"测试客户{unique()}有限公司",
            "contact_name": "王先生",
            "phone": f"139{random.randint(0, 99_999_999):08d}",
            "region_code": "330106",
        }
        response = self.sales.post(f"{API}/customers", body)
        assert response.status_code == 201, response.text
        customer = response.json()
        filing = customer["filing"]
        response = channel.post(f"{API}/filings/{filing['id']}/approve", {"comment": "同意"})
        assert response.status_code == 200, response.text
        self.customer = channel.get(f"{API}/customers/{customer['id']}").json()
        assert self.customer["status"] == "protected", self.customer

    def order_body(self, *lines: tuple[int, str]) -> dict:
        return {
            "customer_id": self.customer["id"],
            "contract_no": unique("HT-"),
            "lines": [
                {"product_id": self.products[n]["id"], "quantity": quantity, "unit_price": price}
                for n, (quantity, price) in enumerate(lines)
            ],
        }


@pytest.fixture(scope="module")
def shop(admin: Client, anonymous: Client) -> Shop:
    return Shop(World(admin, anonymous))


def test_a_line_whose_amount_overflows_its_column_is_422_naming_the_line(shop: Shop) -> None:
    body = shop.order_body((1_000_000, "1000000.00"))
    problem = assert_problem(shop.sales.post(f"{API}/orders", body), 422, "invalid_input")
    assert "unit_price" in problem["errors"]["lines"]["0"], problem


def test_an_order_total_that_overflows_its_column_is_422_naming_the_lines(shop: Shop) -> None:
    body = shop.order_body((1, "600000000000.00"), (1, "600000000000.00"))
    problem = assert_problem(shop.sales.post(f"{API}/orders", body), 422, "invalid_input")
    assert "lines" in problem["errors"], problem


def test_a_revision_cannot_overflow_the_total_either(shop: Shop) -> None:
    response = shop.sales.post(f"{API}/orders", shop.order_body((1, "1000.00")))
    assert response.status_code == 201, response.text
    order = response.json()
    revised = shop.order_body((1, "600000000000.00"), (1, "600000000000.00"))
    del revised["customer_id"]
    response = shop.sales.patch(f"{API}/orders/{order['id']}", revised)
    assert_problem(response, 422, "invalid_input")
    again = shop.sales.get(f"{API}/orders/{order['id']}").json()
    assert again["total_amount"] == "1000.00"


def test_the_largest_total_a_column_holds_is_taken_and_read_back_exactly(shop: Shop) -> None:
    body = shop.order_body((1, "999999999000.00"), (1, "999.99"))
    response = shop.sales.post(f"{API}/orders", body)
    assert response.status_code == 201, response.text
    order = shop.sales.get(f"{API}/orders/{response.json()['id']}").json()
    assert order["total_amount"] == MAX_MONEY
    assert [line["amount"] for line in order["lines"]] == ["999999999000.00", "999.99"]


# -- XLSX imports that unpack beyond the cap ---------------------------------------------


def xlsx_bomb(padding: int, name: str) -> bytes:
    """A valid XLSX of one lead, ``name``, whose sheet XML carries ``padding`` bytes of
    whitespace: a few hundred kilobytes on the wire, far more once unpacked."""
    book = Workbook()
    sheet = book.active
    sheet.append(["name", "contact_name", "phone", "region_code"])
    sheet.append([name, "王", "13800138000", "330106"])
    plain = io.BytesIO()
    book.save(plain)
    out = io.BytesIO()
    with (
        zipfile.ZipFile(io.BytesIO(plain.getvalue())) as source,
        zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED, compresslevel=9) as target,
    ):
        for info in source.infolist():
            data = source.read(info.filename)
            if info.filename == "xl/worksheets/sheet1.xml":
                head, _, tail = data.partition(b"<sheetData>")
                data = head + b"<sheetData>" + b" " * padding + tail
            target.writestr(info.filename, data)
    return out.getvalue()


def leads_named(client: Client, name: str) -> int:
    response = client.get(f"{API}/leads", params={"q": name})
    assert response.status_code == 200, response.text
    return response.json()["total"]


def test_an_xlsx_that_unpacks_beyond_the_cap_is_413_and_imports_nothing(world: World) -> None:
    marketing = world.login(world.user(None, ["marketing"]))
    name = f"炸弹公司{unique()}"
    content = xlsx_bomb(96 * 1024 * 1024, name)
    assert len(content) < 1024 * 1024
    response = marketing.post(f"{API}/leads/import", files={"file": ("leads.xlsx", content)})
    assert_problem(response, 413, "payload_too_large")
    assert leads_named(world.admin, name) == 0


def test_an_xlsx_within_the_cap_is_still_imported(world: World) -> None:
    marketing = world.login(world.user(None, ["marketing"]))
    name = f"正常公司{unique()}"
    response = marketing.post(
        f"{API}/leads/import", files={"file": ("leads.xlsx", xlsx_bomb(1024, name))}
    )
    assert response.status_code == 200, response.text
    assert leads_named(world.admin, name) == 1
