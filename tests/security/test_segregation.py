"""Segregation of duties: one person decides at most one step of an approval flow.

The attack: one HQ user holding every approval permission (an HQ admin) approves the sales,
the finance and the director step of a 72 %-off order alone. Nobody may act on a second step
of the same flow instance (approve or reject): 403 ``same_approver``, and the subject stays
where it was. Filings and orders share the engine, so the rule holds for both.

The other half of the rule (nobody approves what they submitted) has no way in through the
API: submitters are partner users and approvers HQ users. The engine's own tests cover it.

The way around it: an HQ admin (``user.manage``) approves the sales step, then creates an
account with the admin role, or sets a finance user's password, and decides the finance step
with it. An account whose password or roles someone else set after the flow started (or that
was made after it) decides none of its steps: 403 ``same_approver``. A user changing its own
password stays the person it was.
"""

from __future__ import annotations

import random
from collections.abc import Iterator

import pytest
import requests

from tests.support.answers import ok
from tests.support.client import Client, unique
from tests.support.world import PASSWORD, World

ORDERS = "/api/v1/orders"
FILINGS = "/api/v1/filings"
FILING_FLOW = "/api/v1/approval-flows/filing"
LIST_PRICE = "10000.00"
SEVENTY_TWO_PERCENT_OFF = "2800.00"


def assert_same_approver(response: requests.Response) -> None:
    assert response.status_code == 403, response.text
    assert response.headers["Content-Type"].startswith("application/problem+json")
    assert response.json()["code"] == "same_approver", response.text


class Hq:
    """HQ users by role, each a different person."""

    def __init__(self, world: World) -> None:
        self.world = world
        self.admin_user = world.user(None, ["hq_admin"])
        self.admin = world.login(self.admin_user)
        self.channel = world.login(world.user(None, ["channel_manager"]))
        self.finance = world.login(world.user(None, ["finance"]))
        self.director = world.login(world.user(None, ["channel_director"]))


@pytest.fixture
def hq(world: World) -> Hq:
    return Hq(world)


def file_customer(sales: Client) -> dict:
    body = {
        "name": f"职责分离{unique()}科技有限公司",
        "contact_name": "周经理",
        "phone": f"139{random.randint(0, 99_999_999):08d}",
        "region_code": "330106",
    }
    return ok(sales.post("/api/v1/customers", body), 201)


def steps_of(order_or_filing: dict) -> list[tuple[str, str, int]]:
    """(name, status, number of actions) of each step."""
    return [(s["name"], s["status"], len(s["actions"])) for s in order_or_filing["steps"]]


def deeply_discounted_order(world: World, hq: Hq) -> tuple[Client, dict]:
    """A partner's submitted order at 72 % off list price: sales, finance and director."""
    partner = world.partner(["330100"])
    sales = world.partner_user(partner["id"], "partner_sales")
    customer = file_customer(sales)
    ok(hq.channel.post(f"{FILINGS}/{customer['filing']['id']}/approve", {"comment": "同意"}))
    product = {
        "sku": unique("SKU-"),
        "name": "职责分离产品",
        "unit": "套",
        "list_price": LIST_PRICE,
    }
    product = ok(hq.admin.post("/api/v1/products", product), 201)
    body = {
        "customer_id": customer["id"],
        "contract_no": unique("HT-"),
        "lines": [
            {"product_id": product["id"], "quantity": 1, "unit_price": SEVENTY_TWO_PERCENT_OFF}
        ],
    }
    order = ok(sales.post(ORDERS, body), 201)
    order = ok(sales.post(f"{ORDERS}/{order['id']}/submit"))
    assert [s["name"] for s in order["steps"]] == ["sales", "finance", "director"]
    return sales, order


def test_an_hq_admin_approves_one_step_of_a_deep_discount_order_and_no_other(
    world: World, hq: Hq
) -> None:
    sales, order = deeply_discounted_order(world, hq)
    path = f"{ORDERS}/{order['id']}"

    after_sales = ok(hq.admin.post(f"{path}/approve", {"comment": "同意"}))
    assert after_sales["current_step"]["name"] == "finance"
    assert_same_approver(hq.admin.post(f"{path}/approve", {"comment": "财务也同意"}))
    assert_same_approver(hq.admin.post(f"{path}/reject", {"comment": "财务不同意"}))
    held = ok(sales.get(path))
    assert held["status"] == "submitted"
    assert steps_of(held) == [
        ("sales", "approved", 1),
        ("finance", "pending", 0),
        ("director", "waiting", 0),
    ]

    ok(hq.finance.post(f"{path}/approve", {"comment": "同意"}))
    assert_same_approver(hq.admin.post(f"{path}/approve", {"comment": "总监也同意"}))
    held = ok(sales.get(path))
    assert held["status"] == "submitted"
    assert held["approved_at"] is None
    assert steps_of(held)[2] == ("director", "pending", 0)

    done = ok(hq.director.post(f"{path}/approve", {"comment": "同意"}))
    assert done["status"] == "approved"
    deciders = [a["user_id"] for s in done["steps"] for a in s["actions"]]
    assert len(set(deciders)) == len(deciders) == 3


def test_a_resubmitted_order_starts_a_flow_where_the_same_rule_holds(world: World, hq: Hq) -> None:
    sales, order = deeply_discounted_order(world, hq)
    path = f"{ORDERS}/{order['id']}"
    ok(hq.admin.post(f"{path}/reject", {"comment": "折扣过大"}))
    revised_line = [
        {"product_id": order["lines"][0]["product_id"], "quantity": 1, "unit_price": "2900.00"}
    ]
    ok(sales.patch(path, {"lines": revised_line}))
    ok(sales.post(f"{path}/submit"))

    ok(hq.admin.post(f"{path}/approve", {"comment": "同意"}))
    assert_same_approver(hq.admin.post(f"{path}/approve", {"comment": "财务也同意"}))
    assert ok(sales.get(path))["status"] == "submitted"


@pytest.fixture
def two_step_filing_flow(admin: Client) -> Iterator[None]:
    original = ok(admin.get(FILING_FLOW))
    two_steps = [
        {"name": "渠道经理审批", "permission": "filing.approve", "mode": "any"},
        {"name": "渠道总监审批", "permission": "order.approve.director", "mode": "any"},
    ]
    ok(admin.put(FILING_FLOW, {"steps": two_steps}))
    try:
        yield
    finally:
        ok(admin.put(FILING_FLOW, {"steps": original["steps"]}))


def test_an_hq_admin_decides_one_step_of_a_filing_and_no_other(
    world: World, hq: Hq, two_step_filing_flow: None
) -> None:
    partner = world.partner(["330100"])
    sales = world.partner_user(partner["id"], "partner_sales")
    customer = file_customer(sales)
    path = f"{FILINGS}/{customer['filing']['id']}"

    ok(hq.admin.post(f"{path}/approve", {"comment": "同意"}))
    assert_same_approver(hq.admin.post(f"{path}/approve", {"comment": "总监也同意"}))
    assert_same_approver(hq.admin.post(f"{path}/reject", {"comment": "总监不同意"}))
    held = ok(sales.get(f"/api/v1/customers/{customer['id']}"))
    assert held["status"] == "pending"
    filing = ok(hq.director.get(path))
    assert (filing["status"], steps_of(filing)) == (
        "pending",
        [("渠道经理审批", "approved", 1), ("渠道总监审批", "pending", 0)],
    )

    assert ok(hq.director.post(f"{path}/approve", {"comment": "同意"}))["status"] == "approved"
    assert ok(sales.get(f"/api/v1/customers/{customer['id']}"))["status"] == "protected"


# -- accounts set up by someone else after the flow started -------------------------------

STRONG = "Puppet-Lantern-58-Vx"


def assert_set_up_too_late(response: requests.Response) -> None:
    assert_same_approver(response)
    assert "set up after the flow started" in response.json()["detail"], response.text


def assert_held_at_finance(sales: Client, path: str) -> None:
    held = ok(sales.get(path))
    assert held["status"] == "submitted"
    assert steps_of(held) == [
        ("sales", "approved", 1),
        ("finance", "pending", 0),
        ("director", "waiting", 0),
    ]


def test_an_account_the_approver_creates_does_not_decide_the_next_step(
    world: World, hq: Hq
) -> None:
    sales, order = deeply_discounted_order(world, hq)
    path = f"{ORDERS}/{order['id']}"
    ok(hq.admin.post(f"{path}/approve", {"comment": "同意"}))

    puppet = {
        "username": unique("alt"),
        "password": STRONG,
        "display_name": "备用",
        "roles": ["hq_admin"],
    }
    ok(hq.admin.post("/api/v1/users", puppet), 201)
    as_puppet = world.anonymous.login(puppet["username"], STRONG)
    assert_set_up_too_late(as_puppet.post(f"{path}/approve", {"comment": "财务也同意"}))
    assert_set_up_too_late(as_puppet.post(f"{path}/reject", {"comment": "财务不同意"}))
    assert_held_at_finance(sales, path)


def test_an_account_whose_password_the_approver_set_does_not_decide_the_next_step(
    world: World, hq: Hq
) -> None:
    sales, order = deeply_discounted_order(world, hq)
    path = f"{ORDERS}/{order['id']}"
    ok(hq.admin.post(f"{path}/approve", {"comment": "同意"}))

    # hq.finance's account existed before the order was submitted; its password is set now.
    finance = ok(hq.finance.get("/api/v1/me"))
    ok(hq.admin.patch(f"/api/v1/users/{finance['id']}", {"password": STRONG}))
    as_finance = world.anonymous.login(finance["username"], STRONG)
    assert_set_up_too_late(as_finance.post(f"{path}/approve", {"comment": "财务也同意"}))
    assert_held_at_finance(sales, path)


def test_an_account_whose_roles_the_approver_changed_does_not_decide_the_next_step(
    world: World, hq: Hq
) -> None:
    """A colleague's account, older than the order, given an approval role after the order
    was submitted: whoever gave it the role may be the one using it."""
    colleague = world.user(None, ["channel_director"])
    sales, order = deeply_discounted_order(world, hq)
    path = f"{ORDERS}/{order['id']}"
    ok(hq.admin.post(f"{path}/approve", {"comment": "同意"}))

    ok(hq.admin.patch(f"/api/v1/users/{colleague['id']}", {"roles": ["finance"]}))
    assert_set_up_too_late(world.login(colleague).post(f"{path}/approve", {"comment": "同意"}))
    assert_held_at_finance(sales, path)


def test_a_user_who_changes_its_own_password_still_decides_a_step(world: World, hq: Hq) -> None:
    sales, order = deeply_discounted_order(world, hq)
    path = f"{ORDERS}/{order['id']}"
    me = ok(hq.admin.get("/api/v1/me"))
    changed = hq.admin.post(
        "/api/v1/me/password", {"current_password": PASSWORD, "new_password": STRONG}
    )
    assert changed.status_code == 204, changed.text
    again = world.anonymous.login(me["username"], STRONG)

    after_sales = ok(again.post(f"{path}/approve", {"comment": "同意"}))
    assert after_sales["current_step"]["name"] == "finance"
    ok(hq.finance.post(f"{path}/approve", {"comment": "同意"}))
    done = ok(hq.director.post(f"{path}/approve", {"comment": "同意"}))
    assert done["status"] == "approved"
    assert ok(sales.get(path))["status"] == "approved"
