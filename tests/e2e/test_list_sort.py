"""Lists sort on the server (``sort=field``, ``sort=-field``): ties go by id in the same
direction, so that pages never overlap; a field a list does not offer is 422 naming the
ones it does."""

from __future__ import annotations

from decimal import Decimal

import pytest

from tests.support.client import Client, unique
from tests.support.filing_api import CUSTOMERS, customer_body, file_customer
from tests.support.world import World

PARTNERS = "/api/v1/partners"
PRODUCTS = "/api/v1/products"


def items(client: Client, path: str, **query: object) -> list[dict]:
    response = client.get(path, params=query)
    assert response.status_code == 200, response.text
    return response.json()["items"]


def test_partners_sort_by_code_both_ways(world: World) -> None:
    marker = unique("排序")
    made = [world.partner([], name=f"{marker} {n}") for n in range(3)]
    codes = sorted(p["code"] for p in made)

    ascending = items(world.admin, PARTNERS, q=marker, sort="code")
    descending = items(world.admin, PARTNERS, q=marker, sort="-code")

    assert [p["code"] for p in ascending] == codes
    assert [p["code"] for p in descending] == codes[::-1]


def test_without_sort_a_list_keeps_its_order(world: World) -> None:
    marker = unique("排序")
    made = [world.partner([], name=f"{marker} {n}") for n in range(3)]

    assert [p["id"] for p in items(world.admin, PARTNERS, q=marker)] == [p["id"] for p in made]


@pytest.mark.parametrize("sort", ["status", "-status"])
def test_pages_of_equal_values_never_overlap(world: World, sort: str) -> None:
    marker = unique("排序")
    made = [world.partner([], name=f"{marker} {n}") for n in range(5)]  # all active
    ids = [p["id"] for p in made]

    pages = [
        items(world.admin, PARTNERS, q=marker, sort=sort, per_page=2, page=page)
        for page in (1, 2, 3)
    ]

    seen = [p["id"] for page in pages for p in page]
    assert seen == (ids if sort == "status" else ids[::-1])


def test_products_sort_by_list_price(admin: Client) -> None:
    marker = unique("SORT")
    for n, price in enumerate(["30.00", "1250.50", "9.99"]):
        body = {"sku": f"{marker}-{n}", "name": f"排序 {marker}", "unit": "套", "list_price": price}
        response = admin.post(PRODUCTS, body)
        assert response.status_code == 201, response.text

    ascending = items(admin, PRODUCTS, q=marker, sort="list_price")
    descending = items(admin, PRODUCTS, q=marker, sort="-list_price")

    prices = [Decimal(p["list_price"]) for p in ascending]
    assert prices == [Decimal("9.99"), Decimal("30.00"), Decimal("1250.50")]
    assert [p["id"] for p in descending] == [p["id"] for p in ascending][::-1]


def test_customers_sort_by_creation_both_ways(world: World) -> None:
    partner = world.partner(["330100"])
    sales = world.partner_user(partner["id"])
    made = [file_customer(sales, customer_body("330106"))["id"] for _ in range(3)]

    ascending = items(sales, CUSTOMERS, sort="created_at")
    descending = items(sales, CUSTOMERS, sort="-created_at")

    assert [c["id"] for c in ascending] == made
    assert [c["id"] for c in descending] == made[::-1]
    assert [c["id"] for c in items(sales, CUSTOMERS, sort="-id", per_page=1, page=3)] == made[:1]


@pytest.mark.parametrize(
    "path",
    [PARTNERS, PRODUCTS, CUSTOMERS, "/api/v1/orders", "/api/v1/leads", "/api/v1/users"],
)
def test_a_field_the_list_does_not_offer_is_422_naming_those_it_does(
    admin: Client, path: str
) -> None:
    response = admin.get(path, params={"sort": "password_hash"})

    assert response.status_code == 422, response.text
    problem = response.json()
    assert problem["code"] == "invalid_input"
    message = " ".join(problem["errors"]["sort"])
    assert "sort by one of: id" in message
    assert "password_hash" not in message
