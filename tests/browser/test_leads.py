"""A lead entered by HQ in the console and claimed by the partner it went to, from its
dashboard. Region of this module: 景德镇 珠山区 (360203), held by this module's partner
alone while the test runs."""

from __future__ import annotations

import pytest

from tests.support.answers import ok
from tests.support.browser_data import Person, dealer, person
from tests.support.client import Client, unique
from tests.support.fake_data import mobile
from tests.support.filing_api import sole_coverage
from tests.support.world import World

ZHUSHAN = ["江西省", "景德镇市", "珠山区"]


class People:
    def __init__(self, world: World) -> None:
        self.marketing: Person = person(world, None, ["marketing"], "市场专员")
        self.partner = dealer(world, ["360200"])


@pytest.fixture(scope="module")
def people(admin: Client, anonymous: Client) -> People:
    return People(World(admin, anonymous))


def test_hq_enters_a_lead_and_the_partner_claims_it_from_the_dashboard(
    browse, admin: Client, people: People
) -> None:
    name = f"景德镇{unique()}陶瓷有限公司"
    with sole_coverage(admin, ["360203"], keep=[people.partner.partner]):
        seen = browse(
            "lead_claimed",
            hq=people.marketing.login,
            partner=people.partner.sales.login,
            name=name,
            phone=mobile(),
            regions=ZHUSHAN,
        )

    assert seen["entered_message"] == "线索已录入"
    assert "剩余" in seen["countdown"]
    assert name in seen["claimed_message"]
    assert name in seen["customer_text"]
    customer_id = int(seen["customer_path"].rsplit("/", 1)[1])
    customer = ok(people.partner.sales.client.get(f"/api/v1/customers/{customer_id}"))
    assert (customer["status"], customer["source"]) == ("protected", "hq")
    assert customer["owner_partner_id"] == people.partner.id
