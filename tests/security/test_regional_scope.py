"""Regional HQ staff (区域经理) attacking outside their regions, as the isolation matrix
(tests/e2e/test_isolation_matrix.py) found they could: a lead waiting in the HQ queue of
another region is answered as one that does not exist, and stays where it is; a partner of
its region is not terminated with its customers handed to a partner out of its sight.

The regional user's role is limited to 海口 (460100), where partner P is; partner Q is of
柳州 (450200), outside it. The lead lies in 柳州's 城中区 (450202), which no other partner
covers; made while Q is suspended, it waits in the HQ queue, a row of no partner.
"""

from __future__ import annotations

from typing import Any

import pytest

from tests.support.answers import assert_problem, ok
from tests.support.client import Client, unique
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

REGION, OUTSIDE_CITY, OUTSIDE = "460100", "450200", "450202"
MISSING_ID = 999_999_999


@pytest.fixture(scope="module")
def regional(admin: Client, anonymous: Client) -> dict[str, Any]:
    world = World(admin, anonymous)
    role = ok(
        admin.post(
            "/api/v1/roles",
            {
                "code": unique("regional").lower(),
                "name": "海口区域经理",
                "scope": "hq",
                "permissions": ["lead.assign", "partner.manage", "report.read"],
                "regions": [REGION],
            },
        ),
        201,
    )
    return {
        "admin": admin,
        "anonymous": anonymous,
        "client": world.login(world.user(None, [role["code"]])),
        "p": world.partner([REGION]),
        "q": world.partner([OUTSIDE_CITY]),
    }


def queued_lead(admin: Client, region: str) -> dict:
    body = {"name": f"{unique()}线索公司", "contact_name": "周", "phone": mobile()}
    with sole_coverage(admin, [region], []):
        lead = ok(admin.post(LEADS, {**body, "region_code": region}), 201)
    assert (lead["status"], lead["assigned_partner_id"]) == ("unassigned", None), lead
    return lead


def test_a_lead_of_another_region_is_not_found_to_assign_and_stays_queued(regional) -> None:
    admin, client = regional["admin"], regional["client"]
    lead = queued_lead(admin, OUTSIDE)
    before = ok(admin.get(f"{LEADS}/{lead['id']}"))
    body = {"partner_id": MISSING_ID, "reason": "给我的伙伴"}

    theirs = client.post(f"{LEADS}/{lead['id']}/assign", body)
    missing = client.post(f"{LEADS}/{MISSING_ID}/assign", body)

    assert_problem(missing, 404, "not_found")
    assert_problem(theirs, 404, "not_found")
    assert theirs.json()["title"] == missing.json()["title"]
    assert ok(admin.get(f"{LEADS}/{lead['id']}")) == before


def test_a_partner_out_of_sight_is_unknown_as_the_receiver_of_a_termination(regional) -> None:
    admin, client, p, q = regional["admin"], regional["client"], regional["p"], regional["q"]
    path = f"/api/v1/partners/{p['id']}/terminate"
    body = {"customers": "transfer", "reason": "合并到柳州"}

    theirs = client.post(path, {**body, "to_partner_id": q["id"]})
    missing = client.post(path, {**body, "to_partner_id": MISSING_ID})

    assert_problem(missing, 422, "unknown_partner")
    assert_problem(theirs, 422, "unknown_partner")
    assert theirs.json()["errors"] == missing.json()["errors"]
    assert ok(admin.get(f"/api/v1/partners/{p['id']}"))["status"] == "active"
    # HQ of the whole country hands P's customers to Q.
    done = ok(admin.post(path, {**body, "to_partner_id": q["id"]}))
    assert done["status"] == "terminated"


def test_a_partner_covering_another_region_too_is_out_of_sight(regional) -> None:
    # A partner of 海口 and 柳州 has rows in 柳州 that are not the 海口 manager's: it is
    # answered as one that does not exist, and cannot be cut down to 海口, nor ended.
    admin, client = regional["admin"], regional["client"]
    both = World(admin, admin).partner([REGION, OUTSIDE_CITY])
    listed = ok(client.get("/api/v1/partners", params={"per_page": 100}))["items"]
    assert regional["p"]["id"] in {p["id"] for p in listed}
    assert both["id"] not in {p["id"] for p in listed}
    assert (
        "partner_ids" in (me := ok(client.get("/api/v1/me")))
        and both["id"] not in me["partner_ids"]
    )
    path = f"/api/v1/partners/{both['id']}"
    assert_problem(client.get(path), 404, "not_found")
    assert_problem(client.put(f"{path}/territory", {"territory": [REGION]}), 404, "not_found")
    assert_problem(client.post(f"{path}/terminate"), 404, "not_found")
    assert ok(admin.get(path))["territory"] == sorted([REGION, OUTSIDE_CITY])
    assert ok(admin.get(path))["status"] == "active"


def test_the_pool_names_no_last_holder_out_of_sight(regional) -> None:
    # The 海南 provincial agent covers 海口 but is not the 海口 manager's: a customer it
    # gave back shows in that manager's pool without naming who held it.
    admin, client = regional["admin"], regional["client"]
    world = World(admin, regional["anonymous"])
    agent = world.partner(["460000"], type_="provincial_agent")
    agent_user = world.partner_user(agent["id"])
    customer = file_customer(agent_user, customer_body("460106"))
    ok(admin.post(f"{FILINGS}/{customer['filing']['id']}/approve", {"comment": "同意"}))
    ok(agent_user.post(f"{CUSTOMERS}/{customer['id']}/release", {"reason": "客户无需求"}))
    row = next(
        c
        for c in ok(client.get("/api/v1/pool", params={"per_page": 100}))["items"]
        if c["id"] == customer["id"]
    )
    assert row.get("released_by_partner_id") is None
    national = next(
        c
        for c in ok(admin.get("/api/v1/pool", params={"per_page": 100}))["items"]
        if c["id"] == customer["id"]
    )
    assert national["released_by_partner_id"] == agent["id"]
    # Out of the way of later modules' leads in 海南.
    ok(admin.post(f"/api/v1/partners/{agent['id']}/suspend"))
