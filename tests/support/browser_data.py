"""The data the browser scenarios need, made over HTTP in the test process as people of
each side would make it (tests/support helpers): partners and their users, HQ staff,
customers filed and approved, products and orders."""

from __future__ import annotations

from dataclasses import dataclass, field

from tests.support.answers import ok
from tests.support.client import Client, unique
from tests.support.filing_api import customer_body
from tests.support.world import PASSWORD, World


@dataclass
class Person:
    """A user the browser signs in as, and the same user over HTTP."""

    user: dict
    client: Client

    @property
    def login(self) -> dict[str, str]:
        return {"username": self.user["username"], "password": PASSWORD}


def person(
    world: World, partner_id: int | None, roles: list[str], name: str = "测试用户"
) -> Person:
    body = {
        "username": unique("u"),
        "password": PASSWORD,
        "display_name": name,
        "partner_id": partner_id,
        "roles": roles,
    }
    user = ok(world.admin.post("/api/v1/users", body), 201)
    return Person(user, world.login(user))


@dataclass
class Dealer:
    """A partner with a salesperson and an admin."""

    partner: dict
    sales: Person
    admin: Person
    customers: list[dict] = field(default_factory=list)

    @property
    def id(self) -> int:
        return self.partner["id"]


def dealer(world: World, territory: list[str], name: str | None = None) -> Dealer:
    partner = world.partner(territory, **({"name": name} if name else {}))
    return Dealer(
        partner,
        person(world, partner["id"], ["partner_sales"], "伙伴销售"),
        person(world, partner["id"], ["partner_admin"], "伙伴管理员"),
    )


def protected_customer(
    dealer: Dealer, approver: Client, region_code: str, name: str | None = None
) -> dict:
    """A customer ``dealer`` filed in ``region_code`` and HQ approved (protected)."""
    body = customer_body(region_code, **({"name": name} if name else {}))
    customer = ok(dealer.sales.client.post("/api/v1/customers", body), 201)
    ok(approver.post(f"/api/v1/filings/{customer['filing']['id']}/approve", {"comment": "同意"}))
    customer = ok(approver.get(f"/api/v1/customers/{customer['id']}"))
    assert customer["status"] == "protected", customer
    dealer.customers.append(customer)
    return customer


def product(sales_ops: Client, price: str = "10000.00", name: str | None = None) -> dict:
    body = {
        "sku": unique("SKU-"),
        "name": name or f"产品{unique()}",
        "unit": "套",
        "list_price": price,
    }
    return ok(sales_ops.post("/api/v1/products", body), 201)


def draft_order(dealer: Dealer, customer: dict, item: dict, quantity: int = 1) -> dict:
    body = {
        "customer_id": customer["id"],
        "contract_no": unique("HT-"),
        "lines": [
            {"product_id": item["id"], "quantity": quantity, "unit_price": item["list_price"]}
        ],
    }
    return ok(dealer.sales.client.post("/api/v1/orders", body), 201)
