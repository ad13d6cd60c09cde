"""Signing in and out, a session that outlives its access token, and what a partner's user
may see: its own rows only, and none of HQ's menus or pages. Regions of this module: 南昌
(360100) for the partner in view, 景德镇 (360200) for the other one."""

from __future__ import annotations

import json

import pytest

from tests.support.browser_data import dealer, draft_order, person, product, protected_customer
from tests.support.client import Client
from tests.support.stack import ROOT
from tests.support.world import World

#: Pages for HQ only, or for permissions a partner's salesperson lacks: the router sends
#: such a user to the dashboard.
HQ_PAGES = [
    "/approvals",
    "/users",
    "/roles",
    "/audit",
    "/reports",
    "/settings/flows",
    "/settings/grades",
    "/commissions/rates",
    "/channels",
]
#: Their menu entries, which such a user never sees.
HQ_MENUS = {
    "审批中心",
    "用户",
    "角色",
    "审计日志",
    "报表",
    "审批流程",
    "伙伴等级",
    "伙伴类型",
    "提成比例",
    "通知渠道",
}


class People:
    def __init__(self, world: World) -> None:
        self.channel = person(world, None, ["channel_manager", "channel_director"], "渠道经理")
        self.sales_ops = person(world, None, ["sales_ops"], "销售运营")
        self.hq_admin = person(world, None, ["hq_admin"], "总部管理员")
        self.mine = dealer(world, ["360100"])
        self.other = dealer(world, ["360200"])
        item = product(self.sales_ops.client)
        self.orders: dict[int, list[dict]] = {}
        for side, region in ((self.mine, "360102"), (self.other, "360202")):
            customer = protected_customer(side, self.channel.client, region)
            self.orders[side.id] = [draft_order(side, customer, item)]


@pytest.fixture(scope="module")
def people(admin: Client, anonymous: Client) -> People:
    return People(World(admin, anonymous))


def test_sign_in_with_the_form_a_wrong_password_and_sign_out(browse, people: People) -> None:
    seen = browse("sign_in_and_out", **people.mine.sales.login)

    assert "/login?next=" in seen["asked_to_sign_in"]
    assert "用户名或密码错误" in seen["wrong"]
    assert seen["tokens_after_wrong"] is None
    assert seen["signed_in_at"].endswith("/customers"), "not back where the user was going"
    assert seen["user_menu"] == "伙伴销售"
    assert seen["has_tokens"]
    assert seen["tokens_after_sign_out"] is None
    assert "/login" in seen["after_sign_out"]


def test_a_session_whose_access_token_expired_keeps_working(browse, people: People) -> None:
    seen = browse("expired_access_token", **people.channel.login)

    assert seen["after_reload"] == "/", seen
    assert "/login" not in seen["after_click"], seen
    assert seen["user_menu"].startswith("渠道经理")
    assert seen["access_changed"] and seen["refresh_changed"]
    assert seen["still_signed_in"]


def test_a_partner_user_sees_neither_hq_menus_nor_hq_pages(browse, people: People) -> None:
    seen = browse("menus_and_doors", **people.mine.sales.login, paths=HQ_PAGES)

    assert seen["menu"], "the partner's user has no menu at all"
    assert HQ_MENUS.isdisjoint(seen["menu"]), seen["menu"]
    assert seen["landed"] == dict.fromkeys(HQ_PAGES, "/"), seen["landed"]


def test_hq_sees_its_menus(browse, people: People) -> None:
    seen = browse("menus_and_doors", **people.channel.login, paths=["/approvals"])

    assert "审批中心" in seen["menu"], seen["menu"]
    assert seen["landed"] == {"/approvals": "/approvals"}


def test_a_partner_user_sees_only_its_own_customers_orders_and_partner(
    browse, people: People
) -> None:
    mine, other = people.mine, people.other
    found = browse("list_rows", **mine.sales.login, paths=["/customers", "/orders", "/partners"])

    customers = "\n".join(found["/customers"]["rows"])
    assert mine.customers[0]["name"] in customers
    assert other.customers[0]["name"] not in customers
    orders = "\n".join(found["/orders"]["rows"])
    assert people.orders[mine.id][0]["contract_no"] in orders
    assert people.orders[other.id][0]["contract_no"] not in orders
    partners = found["/partners"]
    assert len(partners["rows"]) == 1 and mine.partner["name"] in partners["rows"][0], partners
    assert "新建合作伙伴" not in partners["buttons"]
    # HQ, for contrast, sees both partners' rows and may add a partner.
    seen = browse("list_rows", **people.hq_admin.login, paths=["/customers", "/partners"])
    assert other.customers[0]["name"] in "\n".join(seen["/customers"]["rows"])
    assert "新建合作伙伴" in seen["/partners"]["buttons"], seen["/partners"]["buttons"]


def test_a_partner_user_cannot_open_another_partners_customer_or_order(
    browse, people: People
) -> None:
    other = people.other
    customer, order = other.customers[0], people.orders[other.id][0]
    paths = [f"/customers/{customer['id']}", f"/orders/{order['id']}"]
    found = browse("page_texts", **people.mine.sales.login, paths=paths)

    for path in paths:
        assert "记录不存在" in found[path], found[path]
    assert customer["name"] not in found[paths[0]]
    assert order["contract_no"] not in found[paths[1]]


def test_first_load_of_the_dashboard(browse, people: People) -> None:
    """How long the dashboard takes to show, printed and kept under var/ (timing goals are
    not tests: nothing is asserted about time)."""
    timing = browse("first_load", **people.mine.sales.login)

    print(f"\nfirst load of the dashboard: {json.dumps(timing)}")
    out = ROOT / "var" / "browser" / "first-load.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(timing, indent=2))
    assert timing["content_visible_ms"] > 0
