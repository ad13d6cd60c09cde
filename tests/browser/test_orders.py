"""An order drafted in the console with the customer and product pickers, submitted, and
approved on its page by two HQ users through a flow of two steps set up over HTTP; the
partner then sees its commission on the order. Region of this module: 南昌 青山湖区
(360111)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.support.answers import ok
from tests.support.browser_data import Dealer, Person, dealer, person, product, protected_customer
from tests.support.client import Client, unique
from tests.support.world import World

FLOW = "/api/v1/approval-flows/order"
TWO_STEPS = [
    {"name": "sales", "permission": "order.approve.sales", "mode": "any"},
    {"name": "finance", "permission": "order.approve.finance", "mode": "any"},
]


class People:
    def __init__(self, world: World) -> None:
        self.sales_ops: Person = person(world, None, ["sales_ops"], "销售运营")
        self.finance: Person = person(world, None, ["finance"], "财务")
        self.channel: Person = person(
            world, None, ["channel_manager", "channel_director"], "渠道总监"
        )
        self.dealer: Dealer = dealer(world, ["360100"])
        self.customer = protected_customer(self.dealer, self.channel.client, "360111")
        self.product = product(self.sales_ops.client, "15000.00", f"南昌测试产品{unique()}")
        ok(
            world.admin.put(
                "/api/v1/commission/rates",
                {
                    "partner_id": self.dealer.id,
                    "self_sourced_rate": "0.08",
                    "hq_assigned_rate": "0.03",
                    "effective_from": "2020-01-01",
                },
            )
        )


@pytest.fixture(scope="module")
def people(admin: Client, anonymous: Client) -> People:
    return People(World(admin, anonymous))


@pytest.fixture
def two_step_flow(people: People) -> Iterator[None]:
    """The order flow is sales, then finance, while the test runs; then as it was."""
    director = people.channel.client
    before = ok(director.get(FLOW))
    ok(director.put(FLOW, {"steps": TWO_STEPS}))
    try:
        yield
    finally:
        ok(director.put(FLOW, {"steps": before["steps"]}))


def test_an_order_is_drafted_submitted_approved_twice_and_shows_its_commission(
    browse, people: People, two_step_flow: None
) -> None:
    contract_no = unique("HT-NC-")
    seen = browse(
        "order_approved",
        partner=people.dealer.sales.login,
        approvers=[people.sales_ops.login, people.finance.login],
        customer=people.customer["name"],
        product=people.product["name"],
        contract_no=contract_no,
        quantity=2,
    )

    assert seen["form_total"] == "¥30,000.00"
    assert (seen["status_saved"], seen["status_submitted"], seen["status_approved"]) == (
        "草稿",
        "审批中",
        "已通过",
    )
    assert len(seen["approved"]) == 2
    assert seen["total"] == "¥30,000.00"
    assert "8 %" in seen["commission"] and "¥2,400.00" in seen["commission"], seen["commission"]
    order_id = int(seen["order_path"].rsplit("/", 1)[1])
    order = ok(people.dealer.sales.client.get(f"/api/v1/orders/{order_id}"))
    assert (order["contract_no"], order["status"], order["total_amount"]) == (
        contract_no,
        "approved",
        "30000.00",
    )
    assert [step["status"] for step in order["steps"]] == ["approved", "approved"]
    assert order["commission"]["amount"] == "2400.00"
