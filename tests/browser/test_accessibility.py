"""axe-core (console/node_modules/axe-core) on the console's main pages: no violation of
impact serious or critical. Region of this module: 南昌 红谷滩区 (360113)."""

from __future__ import annotations

import json

import pytest

from tests.support.browser_data import (
    Dealer,
    Person,
    dealer,
    draft_order,
    person,
    product,
    protected_customer,
)
from tests.support.client import Client
from tests.support.world import World


class People:
    def __init__(self, world: World) -> None:
        self.hq: Person = person(
            world, None, ["channel_manager", "sales_ops", "finance"], "总部运营"
        )
        self.dealer: Dealer = dealer(world, ["360100"])
        customer = protected_customer(self.dealer, self.hq.client, "360113")
        self.order = draft_order(self.dealer, customer, product(self.hq.client))


@pytest.fixture(scope="module")
def people(admin: Client, anonymous: Client) -> People:
    return People(World(admin, anonymous))


def violations(found: dict) -> str:
    return json.dumps({page: v for page, v in found.items() if v}, ensure_ascii=False, indent=1)


def test_a_partners_pages_have_no_serious_accessibility_violations(browse, people: People) -> None:
    paths = ["/", "/customers", "/customers/new", "/orders", f"/orders/{people.order['id']}"]
    found = browse("axe_pages", **people.dealer.sales.login, paths=paths)

    assert set(found) == {"/login", *paths}
    assert not any(found.values()), violations(found)


def test_hq_pages_have_no_serious_accessibility_violations(browse, people: People) -> None:
    paths = ["/", "/approvals", "/reports", "/partners"]
    found = browse("axe_pages", **people.hq.login, paths=paths, login=False)

    assert set(found) == set(paths)
    assert not any(found.values()), violations(found)
