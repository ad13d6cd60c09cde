"""Filing a customer in the console (客户报备) and approving it in 审批中心, on a desktop and
on a phone. Regions of this module: 南昌 (360100) for the partner filing, 景德镇 (360200)
for the partner already holding a customer."""

from __future__ import annotations

import pytest

from tests.support.answers import ok
from tests.support.browser_data import Person, dealer, person, protected_customer
from tests.support.client import Client, unique
from tests.support.fake_data import mobile
from tests.support.world import World

NANCHANG = ["江西省", "南昌市", "东湖区"]


class People:
    def __init__(self, world: World) -> None:
        self.channel: Person = person(world, None, ["channel_manager"], "渠道经理")
        self.filer = dealer(world, ["360100"])
        self.holder = dealer(world, ["360200"])
        self.held = protected_customer(self.holder, self.channel.client, "360202")


@pytest.fixture(scope="module")
def people(admin: Client, anonymous: Client) -> People:
    return People(World(admin, anonymous))


def test_a_partner_files_a_customer_and_hq_approves_it_in_one_click(browse, people: People) -> None:
    name = f"南昌{unique()}科技有限公司"
    seen = browse(
        "filing_approved",
        partner=people.filer.sales.login,
        hq=people.channel.login,
        name=name,
        phone=mobile(),
        regions=NANCHANG,
        taken_name=people.held["name"],
    )

    assert "该客户已被报备保护" in seen["precheck_taken"]
    assert "可以报备" in seen["precheck_clear"]
    assert seen["status_after_filing"] == "审批中"
    assert seen["approved_message"] == "已通过"
    assert seen["status_after_approval"] == "保护中"
    customer_id = int(seen["customer_path"].rsplit("/", 1)[1])
    customer = ok(people.filer.sales.client.get(f"/api/v1/customers/{customer_id}"))
    assert (customer["name"], customer["status"], customer["region_code"]) == (
        name,
        "protected",
        "360102",
    )
    assert customer["owner_partner_id"] == people.filer.id


def test_on_a_phone_the_partner_works_with_cards_a_drawer_menu_and_files_a_customer(
    browse, people: People
) -> None:
    name = f"南昌{unique()}手机报备有限公司"
    seen = browse(
        "on_a_phone",
        partner=people.filer.sales.login,
        name=name,
        phone=mobile(),
        regions=NANCHANG,
    )

    assert not seen["side_menu_visible"]
    assert seen["dashboard_cards"] > 0
    assert seen["dashboard_width"] <= 390, "the dashboard scrolls sideways on a phone"
    assert "客户" in seen["drawer_menu"]
    assert seen["tables"] == 0 and seen["customer_cards"], seen
    assert "可以报备" in seen["precheck_clear"]
    assert seen["status_after_filing"] == "审批中"
    customer_id = int(seen["customer_path"].rsplit("/", 1)[1])
    customer = ok(people.filer.sales.client.get(f"/api/v1/customers/{customer_id}"))
    assert (customer["name"], customer["status"]) == (name, "pending")
