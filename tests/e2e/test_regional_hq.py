"""Regional HQ staff (区域经理) over HTTP: an HQ role limited to 广东 (440000) gives its
users the partners whose territory lies in 广东, their customers, filings and leads, the
广东 part of the pool and of the HQ lead queue, and nothing of 辽宁 (210000): 404 there,
as for a partner; approval steps reach only the approvers who see the filing's partner;
what reaches beyond any region (accounts, roles, grades, partner types) is refused.

Partners G (广州 440100) and S (沈阳 210100) are this module's; 佛山 (440600) and 大连
(210200) are covered by nobody, so leads there wait in the HQ queue.
"""

from __future__ import annotations

from typing import Any

import pytest

from tests.support.answers import assert_problem, ok
from tests.support.client import Client, unique
from tests.support.filing_api import CUSTOMERS, FILINGS, LEADS, customer_body, file_customer
from tests.support.waiting import wait_for
from tests.support.world import World, permissions_of

POOL = "/api/v1/pool"
GUANGDONG, GUANGZHOU, FOSHAN = "440000", "440100", "440600"
SHENYANG, DALIAN = "210100", "210200"
PERMISSIONS = [
    "partner.manage",
    "filing.approve",
    "lead.assign",
    "customer.transfer",
    "report.read",
    # National only: a regional role lists them, its users hold none of them.
    "user.manage",
    "role.manage",
    "flow.manage",
    "lead.create",
]


@pytest.fixture(scope="module")
def people(admin: Client, anonymous: Client) -> dict[str, Any]:
    world = World(admin, anonymous)
    role = admin.post(
        "/api/v1/roles",
        {
            "code": unique("regional").lower(),
            "name": "华南区域经理",
            "scope": "hq",
            "permissions": PERMISSIONS,
            "regions": [GUANGDONG],
        },
    )
    assert role.status_code == 201, role.text
    g, s = world.partner([GUANGZHOU]), world.partner([SHENYANG])
    regional_user = world.user(None, [role.json()["code"]])
    return {
        "world": world,
        "admin": admin,
        "role": role.json(),
        "regional": world.login(regional_user),
        "regional_user": regional_user,
        "g": g,
        "s": s,
        "user_g": world.partner_user(g["id"]),
        "user_s": world.partner_user(s["id"]),
    }


def test_the_role_keeps_its_regions_and_the_user_holds_no_national_permission(people) -> None:
    assert people["role"]["regions"] == [GUANGDONG]
    me = ok(people["regional"].get("/api/v1/me"))
    assert me["regions"] == [GUANGDONG]
    held = permissions_of(people["regional"])
    assert {"partner.manage", "filing.approve", "lead.assign", "report.read"} <= held
    assert not held & {"user.manage", "role.manage", "flow.manage", "lead.create"}
    assert_problem(people["regional"].get("/api/v1/users"), 403, "forbidden")
    assert_problem(people["regional"].get("/api/v1/approval-flows/filing"), 403, "forbidden")


def test_partners_of_other_regions_are_not_found(people) -> None:
    regional, g, s = people["regional"], people["g"], people["s"]
    listed = {
        p["id"] for p in ok(regional.get("/api/v1/partners", params={"per_page": 100}))["items"]
    }
    assert g["id"] in listed and s["id"] not in listed
    assert ok(regional.get(f"/api/v1/partners/{g['id']}"))["id"] == g["id"]
    assert_problem(regional.get(f"/api/v1/partners/{s['id']}"), 404, "not_found")
    assert_problem(
        regional.patch(f"/api/v1/partners/{s['id']}", {"name": "改名"}), 404, "not_found"
    )
    assert_problem(regional.post(f"/api/v1/partners/{s['id']}/suspend"), 404, "not_found")


def test_a_regional_manager_makes_partners_in_its_regions_only(people) -> None:
    regional = people["regional"]
    body = {"code": unique("P"), "name": f"伙伴 {unique()}", "type": "city_partner"}
    outside = regional.post("/api/v1/partners", {**body, "territory": [SHENYANG]})
    assert_problem(outside, 422, "region_out_of_scope")
    nowhere = regional.post("/api/v1/partners", {**body, "territory": []})
    assert_problem(nowhere, 422, "region_out_of_scope")
    made = regional.post("/api/v1/partners", {**body, "territory": ["440300"]})
    assert made.status_code == 201, made.text
    moved = regional.put(f"/api/v1/partners/{made.json()['id']}/territory", {"territory": [DALIAN]})
    assert_problem(moved, 422, "region_out_of_scope")
    # Settings of the whole country are not a region's.
    grades = ok(people["admin"].get("/api/v1/partner-grades"))
    assert_problem(
        regional.put("/api/v1/partner-grades", {"grades": grades}), 403, "regional_staff"
    )
    assert_problem(
        regional.put("/api/v1/partner-types/city_partner", {"protection_days": 1}),
        403,
        "regional_staff",
    )


def test_filings_of_other_regions_are_neither_seen_nor_decided_nor_told(people) -> None:
    regional, admin = people["regional"], people["admin"]
    mine = file_customer(people["user_g"], customer_body("440106"))
    theirs = file_customer(people["user_s"], customer_body("210102"))
    listed = {
        f["id"]
        for f in ok(regional.get(FILINGS, params={"per_page": 100, "status": "pending"}))["items"]
    }
    assert mine["filing"]["id"] in listed and theirs["filing"]["id"] not in listed
    assert_problem(regional.get(f"{FILINGS}/{theirs['filing']['id']}"), 404, "not_found")
    assert_problem(
        regional.post(f"{FILINGS}/{theirs['filing']['id']}/approve", {"comment": "同意"}),
        404,
        "not_found",
    )
    assert_problem(regional.get(f"{CUSTOMERS}/{theirs['id']}"), 404, "not_found")

    # The step waiting on 广州's filing reaches the regional approver, 沈阳's does not.
    def subjects() -> set[int]:
        page = ok(regional.get("/api/v1/notifications", params={"per_page": 100}))
        return {n["subject_id"] for n in page["items"] if n["kind"] == "filing_submitted"}

    wait_for(lambda: mine["filing"]["id"] in subjects(), what="the regional approver told")
    # Every HQ approver of the whole country is told of 沈阳's filing: once the admin
    # has been, the regional approver would have been too.
    wait_for(
        lambda: any(
            n["subject_id"] == theirs["filing"]["id"]
            for n in ok(admin.get("/api/v1/notifications", params={"per_page": 100}))["items"]
        ),
        what="HQ told of the 沈阳 filing",
    )
    assert theirs["filing"]["id"] not in subjects()

    approved = ok(regional.post(f"{FILINGS}/{mine['filing']['id']}/approve", {"comment": "同意"}))
    assert approved["status"] == "approved"
    customers = ok(regional.get(CUSTOMERS, params={"per_page": 100}))["items"]
    assert mine["id"] in {c["id"] for c in customers}
    assert theirs["id"] not in {c["id"] for c in customers}


def test_the_pool_and_the_lead_queue_of_other_regions_are_not_found(people) -> None:
    regional, admin = people["regional"], people["admin"]
    # Released customers: one of 广州, one of 沈阳.
    released = {}
    for name, district in (("g", "440106"), ("s", "210102")):
        customer = file_customer(people[f"user_{name}"], customer_body(district))
        ok(admin.post(f"{FILINGS}/{customer['filing']['id']}/approve", {"comment": "同意"}))
        ok(
            people[f"user_{name}"].post(
                f"{CUSTOMERS}/{customer['id']}/release", {"reason": "无需求"}
            )
        )
        released[name] = customer["id"]
    pool = {c["id"] for c in ok(regional.get(POOL, params={"per_page": 100}))["items"]}
    assert released["g"] in pool and released["s"] not in pool
    assert ok(regional.get(f"{CUSTOMERS}/{released['g']}"))["id"] == released["g"]
    assert_problem(regional.get(f"{CUSTOMERS}/{released['s']}"), 404, "not_found")

    # Leads nobody covers wait in the HQ queue: the 佛山 one is the regional manager's.
    leads = {}
    for name, region in (("foshan", FOSHAN), ("dalian", DALIAN)):
        lead = admin.post(
            LEADS,
            {
                "name": f"{unique()}线索公司",
                "contact_name": "李先生",
                "phone": "13800138000",
                "region_code": region,
            },
        )
        assert lead.status_code == 201, lead.text
        assert lead.json()["assigned_partner_id"] is None
        leads[name] = lead.json()["id"]
    queue = {
        lead["id"]
        for lead in ok(regional.get(LEADS, params={"per_page": 100, "status": "unassigned"}))[
            "items"
        ]
    }
    assert leads["foshan"] in queue and leads["dalian"] not in queue
    assert ok(regional.get(f"{LEADS}/{leads['foshan']}"))["id"] == leads["foshan"]
    assert_problem(regional.get(f"{LEADS}/{leads['dalian']}"), 404, "not_found")
