"""Partner users never see another partner's customers, filings or leads: not by list,
filter, count nor id. HQ sees them all.

A (杭州 330100) and B (浙江 330000) each file, get approved and rejected, and receive
leads; then each looks for the other's rows every way the API allows.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import pytest

from tests.support.answers import assert_problem
from tests.support.client import Client
from tests.support.fake_data import mobile
from tests.support.filing_api import (
    CUSTOMERS,
    FILINGS,
    LEADS,
    customer_body,
    file_customer,
    sole_coverage,
)
from tests.support.world import World


@dataclass
class Side:
    partner: dict
    user: Client
    admin_user: Client
    customers: dict[str, dict] = field(default_factory=dict)  # by status
    leads: list[dict] = field(default_factory=list)

    @property
    def id(self) -> int:
        return self.partner["id"]

    def customer_ids(self) -> set[int]:
        return {c["id"] for c in self.customers.values()}

    def filing_ids(self) -> set[int]:
        return {c["filing"]["id"] for c in self.customers.values()}

    def lead_ids(self) -> set[int]:
        return {lead["id"] for lead in self.leads}


@dataclass
class Pair:
    a: Side
    b: Side
    unassigned_lead: dict


def _decide(approver: Client, customer: dict, action: str) -> None:
    path = f"{FILINGS}/{customer['filing']['id']}/{action}"
    response = approver.post(path, {"comment": "审核意见"})
    assert response.status_code == 200, response.text


def _side(world: World, approver: Client, marketing: Client, partner: dict) -> Side:
    side = Side(
        partner,
        world.partner_user(partner["id"], "partner_sales"),
        world.partner_user(partner["id"], "partner_admin"),
    )
    for status in ("pending", "protected", "rejected"):
        side.customers[status] = file_customer(side.user, customer_body())
    _decide(approver, side.customers["protected"], "approve")
    _decide(approver, side.customers["rejected"], "reject")
    # A lead naming the partner's protected customer goes to that partner, whoever else
    # covers the region.
    response = marketing.post(
        LEADS,
        {
            "name": side.customers["protected"]["name"],
            "contact_name": "赵",
            "phone": mobile(),
            "region_code": "330106",
        },
    )
    assert response.status_code == 201, response.text
    assert response.json()["assigned_partner_id"] == partner["id"]
    side.leads.append(response.json())
    return side


@pytest.fixture(scope="module")
def hq(admin: Client, anonymous: Client) -> dict[str, Client]:
    world = World(admin, anonymous)
    return {
        role: world.login(world.user(None, [role])) for role in ("channel_manager", "marketing")
    }


@pytest.fixture(scope="module")
def pair(admin: Client, anonymous: Client, hq) -> Pair:
    """Read-only for the tests that use it, so made once for the module."""
    world = World(admin, anonymous)
    a = _side(world, hq["channel_manager"], hq["marketing"], world.partner(["330100"]))
    b = _side(
        world,
        hq["channel_manager"],
        hq["marketing"],
        world.partner(["330000"], type_="provincial_agent"),
    )
    response = hq["marketing"].post(
        LEADS, {"name": "无地区线索公司", "contact_name": "钱", "phone": mobile()}
    )
    assert response.status_code == 201, response.text
    assert response.json()["status"] == "unassigned"
    return Pair(a, b, response.json())


def ids(client: Client, path: str, query: str = "") -> tuple[set[int], int]:
    response = client.get(f"{path}?per_page=100&{query}")
    assert response.status_code == 200, response.text
    body = response.json()
    return {item["id"] for item in body["items"]}, body["total"]


def sides(pair: Pair) -> list[tuple[Side, Side]]:
    return [(pair.a, pair.b), (pair.b, pair.a)]


# -- customers --------------------------------------------------------------------------


def test_partner_lists_and_counts_only_its_own_customers(pair: Pair) -> None:
    for me, _ in sides(pair):
        for user in (me.user, me.admin_user):
            assert ids(user, CUSTOMERS) == (me.customer_ids(), 3)
            one_page = user.get(f"{CUSTOMERS}?per_page=1").json()
            assert one_page["total"] == 3
            assert len(one_page["items"]) == 1


def test_partner_id_filter_of_another_partner_shows_no_customer(pair: Pair) -> None:
    for me, other in sides(pair):
        assert ids(me.user, CUSTOMERS, f"partner_id={other.id}") == (set(), 0)
        assert ids(me.user, CUSTOMERS, f"partner_id={me.id}") == (me.customer_ids(), 3)


@pytest.mark.parametrize("status", ["pending", "protected", "rejected", "released"])
def test_status_filter_shows_only_own_customers(pair: Pair, status: str) -> None:
    for me, _ in sides(pair):
        expected = {me.customers[status]["id"]} if status in me.customers else set()
        assert ids(me.user, CUSTOMERS, f"status={status}") == (expected, len(expected))


def test_search_and_region_filters_never_reach_another_partners_customers(pair: Pair) -> None:
    for me, other in sides(pair):
        for customer in other.customers.values():
            assert ids(me.user, CUSTOMERS, f"q={customer['name']}") == (set(), 0)
            assert ids(me.user, CUSTOMERS, f"q={customer['phone']}") == (set(), 0)
        for region in ("330000", "330100", "330106"):
            assert ids(me.user, CUSTOMERS, f"region_code={region}") == (me.customer_ids(), 3)
        assert ids(me.user, CUSTOMERS, "source=partner") == (me.customer_ids(), 3)


def test_another_partners_customer_by_id_is_not_found(pair: Pair) -> None:
    for me, other in sides(pair):
        for customer in other.customers.values():
            response = me.user.get(f"{CUSTOMERS}/{customer['id']}")
            body = assert_problem(response, 404, "not_found")
            assert customer["name"] not in response.text
            assert set(body) >= {"code", "detail"}
        for customer in me.customers.values():
            assert me.user.get(f"{CUSTOMERS}/{customer['id']}").status_code == 200


def test_partner_cannot_transfer_another_partners_customer(pair: Pair) -> None:
    customer = pair.b.customers["protected"]
    response = pair.a.user.post(
        f"{CUSTOMERS}/{customer['id']}/transfer", {"partner_id": pair.a.id, "reason": "想要"}
    )
    assert_problem(response, 403, "forbidden")


# -- filings ----------------------------------------------------------------------------


def test_partner_lists_and_counts_only_its_own_filings(pair: Pair) -> None:
    for me, other in sides(pair):
        assert ids(me.user, FILINGS) == (me.filing_ids(), 3)
        assert ids(me.user, FILINGS, f"partner_id={other.id}") == (set(), 0)
        for status, customer_status in (
            ("pending", "pending"),
            ("approved", "protected"),
            ("rejected", "rejected"),
        ):
            expected = {me.customers[customer_status]["filing"]["id"]}
            assert ids(me.user, FILINGS, f"status={status}") == (expected, 1)


def test_another_partners_filing_by_id_is_not_found(pair: Pair) -> None:
    for me, other in sides(pair):
        for filing_id in other.filing_ids():
            assert_problem(me.user.get(f"{FILINGS}/{filing_id}"), 404, "not_found")
        for filing_id in me.filing_ids():
            assert me.user.get(f"{FILINGS}/{filing_id}").status_code == 200


# -- leads ------------------------------------------------------------------------------


def test_partner_lists_and_counts_only_the_leads_assigned_to_it(pair: Pair) -> None:
    for me, other in sides(pair):
        assert ids(me.user, LEADS) == (me.lead_ids(), 1)
        assert ids(me.user, LEADS, "status=assigned") == (me.lead_ids(), 1)
        assert ids(me.user, LEADS, "status=unassigned") == (set(), 0)
        assert ids(me.user, LEADS, f"partner_id={other.id}") == (set(), 0)


def test_another_partners_or_hqs_lead_by_id_is_not_found_nor_claimable(pair: Pair) -> None:
    for me, other in sides(pair):
        for lead in [*other.leads, pair.unassigned_lead]:
            assert_problem(me.user.get(f"{LEADS}/{lead['id']}"), 404, "not_found")
            assert_problem(me.user.post(f"{LEADS}/{lead['id']}/claim"), 404, "not_found")
            declined = me.user.post(f"{LEADS}/{lead['id']}/decline", {"reason": "试试"})
            assert_problem(declined, 404, "not_found")


def test_hq_sees_both_partners_rows(pair: Pair, admin: Client) -> None:
    for side in (pair.a, pair.b):
        assert ids(admin, CUSTOMERS, f"partner_id={side.id}") == (side.customer_ids(), 3)
        assert ids(admin, FILINGS, f"partner_id={side.id}") == (side.filing_ids(), 3)
        assert ids(admin, LEADS, f"partner_id={side.id}") == (side.lead_ids(), 1)


# -- passing rows between partners ------------------------------------------------------


def test_partner_receiving_a_declined_lead_does_not_learn_who_declined_it(
    world: World, hq, admin: Client
) -> None:
    a = world.partner(["330100"])
    b = world.partner(["330000"], type_="provincial_agent")
    user_a, user_b = world.partner_user(a["id"]), world.partner_user(b["id"])
    reason = "客户是我们的老熟人，价格谈崩了"
    with sole_coverage(admin, ["330100"], [a, b]):
        response = hq["marketing"].post(
            LEADS,
            {
                "name": "转手线索有限公司",
                "contact_name": "孙",
                "phone": mobile(),
                "region_code": "330100",
            },
        )
        lead = response.json()
        assert lead["assigned_partner_id"] == a["id"]
        declined = user_a.post(f"{LEADS}/{lead['id']}/decline", {"reason": reason})
        assert declined.status_code == 200, declined.text
    seen = user_b.get(f"{LEADS}/{lead['id']}")
    assert seen.status_code == 200, seen.text
    partner_ids = {event["partner_id"] for event in seen.json()["history"]}
    assert a["id"] not in partner_ids
    assert reason not in seen.text


def test_transferred_customer_does_not_show_the_previous_owners_filing(world: World, hq) -> None:
    a = world.partner(["330100"])
    b = world.partner(["330000"], type_="provincial_agent")
    user_a, user_b = world.partner_user(a["id"]), world.partner_user(b["id"])
    customer = file_customer(user_a, customer_body())
    _decide(hq["channel_manager"], customer, "approve")
    moved = hq["channel_manager"].post(
        f"{CUSTOMERS}/{customer['id']}/transfer", {"partner_id": b["id"], "reason": "调整"}
    )
    assert moved.status_code == 200, moved.text
    assert_problem(user_b.get(f"{FILINGS}/{customer['filing']['id']}"), 404, "not_found")
    seen = user_b.get(f"{CUSTOMERS}/{customer['id']}").json()
    assert seen["filing"] is None or seen["filing"]["partner_id"] == b["id"]
