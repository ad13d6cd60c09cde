"""HQ assigns leads by hand, grades weight the assignment, and a partner's cap holds for
new filings and lead claims too, over HTTP with every service running (DOMAIN.md,
"Channel operations" and "Regional lead assignment").

Partners here cover 成都 (510100), 四川 (510000) and 昆明 (530100) only; each test makes its
partners the only active ones covering its leads' regions (``sole_coverage``), as the
partners of earlier tests stay.
"""

from __future__ import annotations

import csv
import io
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from tests.support.answers import assert_problem, ok, parse_time
from tests.support.client import Client, unique
from tests.support.fake_data import company, mobile
from tests.support.filing_api import (
    CUSTOMERS,
    LEADS,
    customer_body,
    file_customer,
    filing_rows,
    graded,
    grades_given,
    sole_coverage,
)
from tests.support.waiting import wait_for
from tests.support.world import World

CHENGDU, SICHUAN, KUNMING = "510100", "510000", "530100"
NOTIFICATIONS = "/api/v1/notifications"
IMPORT_HEADER = ["name", "contact_name", "phone", "region_code", "address", "notes"]


@pytest.fixture(scope="module")
def world(admin: Client, anonymous: Client) -> World:
    return World(admin, anonymous)


@pytest.fixture(scope="module")
def hq(world: World) -> dict[str, Any]:
    manager = world.user(None, ["channel_manager"])  # lead.create and lead.assign
    return {
        "manager": world.login(manager),
        "manager_id": manager["id"],
        "marketing": world.login(world.user(None, ["marketing"])),  # no lead.assign
    }


@pytest.fixture(scope="module")
def chengdu(world: World) -> dict[str, Any]:
    """City partner A of 成都 and provincial agent B of 四川, each with a sales user."""
    a = world.partner([CHENGDU])
    b = world.partner([SICHUAN], type_="provincial_agent")
    return {
        "a": a,
        "b": b,
        "user_a": world.partner_user(a["id"]),
        "user_b": world.partner_user(b["id"]),
    }


def new_lead(client: Client, region: str | None = CHENGDU) -> dict:
    body = {"name": f"{company()}商贸有限公司", "contact_name": "张总", "phone": mobile()}
    return ok(client.post(LEADS, body | {"region_code": region}), 201)


def assign(client: Client, lead: dict, partner: dict, reason: str | None = None, **kw: Any):
    body = {"partner_id": partner["id"]} | ({"reason": reason} if reason else {})
    return client.post(f"{LEADS}/{lead['id']}/assign", body, **kw)


def hq_view(admin: Client, lead: dict) -> dict:
    return ok(admin.get(f"{LEADS}/{lead['id']}"))


def trail(lead: dict) -> list[tuple[str, int | None]]:
    return [(event["action"], event["partner_id"]) for event in lead["history"]]


def message_titled(client: Client, title: str) -> dict:
    def found() -> dict | None:
        items = ok(client.get(NOTIFICATIONS, params={"per_page": 100}))["items"]
        return next((m for m in items if m["title"] == title), None)

    return wait_for(found, what=f"the message {title}")


def about_72_hours_from_now(deadline: str) -> bool:
    expected = datetime.now(UTC) + timedelta(hours=72)
    return abs(parse_time(deadline) - expected) < timedelta(minutes=2)


# -- by hand -------------------------------------------------------------------------------


def test_a_lead_nobody_covered_is_assigned_by_hand_once_a_partner_covers_its_region(
    world: World, hq, admin: Client
) -> None:
    with sole_coverage(admin, [KUNMING], []):
        lead = new_lead(hq["manager"], KUNMING)
        assert (lead["status"], lead["assigned_partner_id"]) == ("unassigned", None)
        k = world.partner([KUNMING])
        user_k = world.partner_user(k["id"])
        assigned = ok(assign(hq["manager"], lead, k, "客户点名要昆明的伙伴"))
    assert (assigned["status"], assigned["assigned_partner_id"]) == ("assigned", k["id"])
    assert about_72_hours_from_now(assigned["claim_deadline"])
    last = hq_view(admin, lead)["history"][-1]
    assert (last["action"], last["partner_id"]) == ("hq_assigned", k["id"])
    assert (last["user_id"], last["reason"]) == (hq["manager_id"], "客户点名要昆明的伙伴")

    message = message_titled(user_k, f"总部指派线索待申领：{lead['name']}")
    assert (message["kind"], message["subject_id"]) == ("lead_assigned", lead["id"])
    assert "客户点名要昆明的伙伴" in message["body"]
    assert str(hq["manager_id"]) in message["body"]
    seen = ok(user_k.get(f"{LEADS}/{lead['id']}"))
    assert seen["claim_deadline"] == assigned["claim_deadline"]
    customer = ok(user_k.post(f"{LEADS}/{lead['id']}/claim"))
    assert (customer["owner_partner_id"], customer["source"]) == (k["id"], "hq")


def test_a_lead_every_partner_declined_is_assigned_by_hand_with_a_new_deadline(
    chengdu, hq, admin: Client
) -> None:
    a, b = chengdu["a"], chengdu["b"]
    with sole_coverage(admin, [CHENGDU], [a, b]):
        lead = new_lead(hq["manager"])
        ok(chengdu["user_a"].post(f"{LEADS}/{lead['id']}/decline", {"reason": "忙不过来"}))
        ok(chengdu["user_b"].post(f"{LEADS}/{lead['id']}/decline", {"reason": "太远"}))
        assert hq_view(admin, lead)["status"] == "unassigned"
        assigned = ok(assign(hq["manager"], lead, a))
    assert (assigned["status"], assigned["assigned_partner_id"]) == ("assigned", a["id"])
    assert about_72_hours_from_now(assigned["claim_deadline"])
    assert trail(hq_view(admin, lead))[-1] == ("hq_assigned", a["id"])
    message_titled(chengdu["user_a"], f"总部指派线索待申领：{lead['name']}")
    assert ok(chengdu["user_a"].get(f"{LEADS}/{lead['id']}"))["status"] == "assigned"


def test_an_unclaimed_lead_is_reassigned_by_hand_and_leaves_its_holder(
    chengdu, hq, admin: Client
) -> None:
    a, b = chengdu["a"], chengdu["b"]
    with sole_coverage(admin, [CHENGDU], [a, b]):
        lead = new_lead(hq["manager"])
        assert lead["assigned_partner_id"] == a["id"]
        moved = ok(assign(hq["manager"], lead, b, "A 联系不上客户"))
    assert moved["assigned_partner_id"] == b["id"]
    assert trail(hq_view(admin, lead))[-2:] == [("withdrawn", a["id"]), ("hq_assigned", b["id"])]
    assert_problem(chengdu["user_a"].get(f"{LEADS}/{lead['id']}"), 404, "not_found")
    assert_problem(chengdu["user_a"].post(f"{LEADS}/{lead['id']}/claim"), 404, "not_found")
    assert_problem(assign(hq["manager"], lead, b), 409, "invalid_state")


def test_by_hand_refused_outside_the_territory_to_a_suspended_partner_after_a_claim(
    world: World, chengdu, hq, admin: Client
) -> None:
    k = world.partner([KUNMING])
    suspended = world.partner([CHENGDU])
    ok(admin.post(f"/api/v1/partners/{suspended['id']}/suspend"))
    with sole_coverage(admin, [CHENGDU], [chengdu["a"], chengdu["b"]]):
        lead = new_lead(hq["manager"])
        problem = assert_problem(assign(hq["manager"], lead, k), 422, "region_not_in_territory")
        assert "partner_id" in problem["errors"]
        assert_problem(assign(hq["manager"], lead, suspended), 409, "partner_not_active")
        assert_problem(assign(hq["manager"], lead, {"id": 999_999_999}), 422, "unknown_partner")
        ok(chengdu["user_a"].post(f"{LEADS}/{lead['id']}/claim"))
        assert_problem(assign(hq["manager"], lead, chengdu["b"]), 409, "already_claimed")
    assert_problem(assign(hq["manager"], {"id": 999_999_999}, k), 404, "not_found")
    after = hq_view(admin, lead)
    assert (after["status"], after["assigned_partner_id"]) == ("claimed", chengdu["a"]["id"])
    assert "hq_assigned" not in [action for action, _ in trail(after)]


def test_only_hq_with_lead_assign_assigns_by_hand(chengdu, hq, admin: Client) -> None:
    with sole_coverage(admin, [CHENGDU], [chengdu["a"], chengdu["b"]]):
        lead = new_lead(hq["manager"])
        assert_problem(assign(chengdu["user_a"], lead, chengdu["b"]), 403, "forbidden")
        assert_problem(assign(hq["marketing"], lead, chengdu["b"]), 403, "forbidden")
    assert hq_view(admin, lead)["assigned_partner_id"] == chengdu["a"]["id"]


def test_an_assignment_sent_twice_with_one_key_is_made_once(chengdu, hq, admin: Client) -> None:
    with sole_coverage(admin, [CHENGDU], [chengdu["a"], chengdu["b"]]):
        lead = new_lead(hq["manager"])
        key = {"Idempotency-Key": unique("assign")}
        first = ok(assign(hq["manager"], lead, chengdu["b"], "重试", headers=key))
        again = ok(assign(hq["manager"], lead, chengdu["b"], "重试", headers=key))
    assert again == first
    assert trail(hq_view(admin, lead)).count(("hq_assigned", chengdu["b"]["id"])) == 1


# -- grade weights -------------------------------------------------------------------------


def csv_file(rows: list[list[str]]) -> bytes:
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(IMPORT_HEADER)
    writer.writerows(rows)
    return out.getvalue().encode("utf-8")


def imported(client: Client, count: int, region: str) -> list[str]:
    """The names of ``count`` leads of ``region`` imported in one file, once imported."""
    names = [f"{company()}加权有限公司" for _ in range(count)]
    rows = [[name, "甲", mobile(), region, "", ""] for name in names]
    response = client.post(
        f"{LEADS}/import", files={"file": ("leads.csv", csv_file(rows))}, timeout=60
    )
    assert response.status_code in (200, 202), response.text
    job_id = response.json()["id"]

    def done() -> dict | None:
        job = ok(client.get(f"{LEADS}/imports/{job_id}"))
        return job if job["status"] in ("done", "failed") else None

    job = wait_for(done, timeout=180, what=f"import {job_id} finished")
    assert (job["status"], job["created"]) == ("done", count), job
    return names


def split(names: list[str]) -> Counter:
    rows = filing_rows(
        "SELECT assigned_partner_id, count(*) FROM leads WHERE name = ANY(:names)"
        " GROUP BY assigned_partner_id",
        names=names,
    )
    return Counter(dict(rows))


def test_three_thousand_imported_leads_split_three_to_one_by_grade_weight(
    world: World, hq, admin: Client
) -> None:
    heavy, light = world.partner([CHENGDU]), world.partner([CHENGDU])
    user_heavy = world.partner_user(heavy["id"])
    weights = [(heavy, {"lead_weight": 3}), (light, {"lead_weight": 1})]
    with grades_given(admin, weights), sole_coverage(admin, [CHENGDU], [heavy, light]):
        first = imported(hq["manager"], 1500, CHENGDU)
        # The heavy partner claims some of its leads in between: it gets no more for it.
        mine = ok(user_heavy.get(LEADS, params={"status": "assigned", "per_page": 40}))
        for lead in mine["items"]:
            ok(user_heavy.post(f"{LEADS}/{lead['id']}/claim"))
        second = imported(hq["manager"], 1500, CHENGDU)
    for names in (first, second, first + second):
        got = split(names)
        assert sum(got.values()) == len(names)
        assert set(got) == {heavy["id"], light["id"]}, got
        share = got[heavy["id"]] / len(names)
        assert 0.70 <= share <= 0.80, got
    # The heavy partner's leads are told to its user a batch at a time, each lead once:
    # the counts of its messages add up to its leads (and waiting for them leaves no
    # backlog of messages to the tests after this one).
    given = split(first + second)[heavy["id"]]
    wait_for(
        lambda: told_in_bulk(user_heavy) == given,
        timeout=600,
        what=f"{given} leads told to the heavy partner",
    )
    assert told_in_bulk(user_heavy) == given


def told_in_bulk(user: Client) -> int:
    """How many leads ``user``'s ``leads_assigned`` messages tell of ("... 等 N 条")."""
    count, page = 0, 1
    while True:
        found = ok(user.get(NOTIFICATIONS, params={"page": page, "per_page": 100}))
        for message in found["items"]:
            if message["kind"] == "leads_assigned":
                count += int(message["title"].rsplit("等 ", 1)[1].split(" ", 1)[0])
        if page * 100 >= found["total"]:
            return count
        page += 1


def test_equal_weights_still_take_turns(world: World, hq, admin: Client) -> None:
    one, two = world.partner([CHENGDU]), world.partner([CHENGDU])
    with sole_coverage(admin, [CHENGDU], [one, two]):
        leads = [new_lead(hq["manager"]) for _ in range(6)]
    got = Counter(lead["assigned_partner_id"] for lead in leads)
    assert got == Counter({one["id"]: 3, two["id"]: 3})


# -- the cap on what a partner holds ----------------------------------------------------------


def test_a_partner_at_its_cap_files_no_new_customer(world: World, admin: Client) -> None:
    partner = world.partner([CHENGDU])
    user = world.partner_user(partner["id"])
    with graded(admin, partner, 2):
        for _ in range(2):
            assert file_customer(user, customer_body(CHENGDU))["status"] == "pending"
        assert_problem(user.post(CUSTOMERS, customer_body(CHENGDU)), 409, "claim_limit_reached")
    # Without the grade there is no cap.
    assert file_customer(user, customer_body(CHENGDU))["status"] == "pending"


def test_of_two_filings_at_once_one_below_the_cap_exactly_one_goes_through(
    world: World, admin: Client
) -> None:
    for _ in range(3):
        partner = world.partner([CHENGDU])
        user = world.partner_user(partner["id"])
        with graded(admin, partner, 2):
            file_customer(user, customer_body(CHENGDU))
            bodies = [customer_body(CHENGDU), customer_body(CHENGDU)]
            with ThreadPoolExecutor(2) as pool:
                answers = list(pool.map(lambda body, u=user: u.post(CUSTOMERS, body), bodies))
        assert sorted(a.status_code for a in answers) == [201, 409], [a.text for a in answers]
        loser = next(a for a in answers if a.status_code == 409)
        assert loser.json()["code"] == "claim_limit_reached"
        held = ok(admin.get(CUSTOMERS, params={"partner_id": partner["id"], "per_page": 10}))
        assert held["total"] == 2


def test_a_partner_at_its_cap_claims_no_lead(world: World, hq, admin: Client) -> None:
    partner = world.partner([CHENGDU])
    user = world.partner_user(partner["id"])
    with sole_coverage(admin, [CHENGDU], [partner]):
        lead = new_lead(hq["manager"])
    assert lead["assigned_partner_id"] == partner["id"]
    file_customer(user, customer_body(CHENGDU))
    with graded(admin, partner, 1):
        assert_problem(user.post(f"{LEADS}/{lead['id']}/claim"), 409, "claim_limit_reached")
        assert hq_view(admin, lead)["status"] == "assigned"
    assert ok(user.post(f"{LEADS}/{lead['id']}/claim"))["status"] == "protected"
