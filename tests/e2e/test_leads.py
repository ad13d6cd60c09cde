"""Regional lead assignment over HTTP (DOMAIN.md, "Regional lead assignment").

HQ enters leads; each goes to the partner covering its region, the city partner before the
province partner, or to the partner already protected on the customer; the partner claims
it or declines it, and an unclaimed lead moves on when its deadline passes.

Each test makes its partners the only active ones covering the exact regions of its leads
(``sole_coverage``): the stack is shared with every other test, which leave partners in
浙江, 杭州 and 西湖区 behind.
"""

from __future__ import annotations

import csv
import io
import time
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from openpyxl import Workbook

from tests.support.answers import assert_problem, parse_time
from tests.support.client import Client
from tests.support.fake_data import company, mobile
from tests.support.filing_api import (
    CUSTOMERS,
    LEADS,
    age_lead,
    customer_body,
    file_customer,
    filing_rows,
    sole_coverage,
)
from tests.support.waiting import wait_for
from tests.support.world import World

NOTIFICATIONS = "/api/v1/notifications"
IMPORT_HEADER = ["name", "contact_name", "phone", "region_code", "address", "notes"]


@pytest.fixture(scope="module")
def hq(admin: Client, anonymous: Client) -> dict[str, Client]:
    world = World(admin, anonymous)
    return {
        role: world.login(world.user(None, [role])) for role in ("marketing", "channel_manager")
    }


@pytest.fixture(scope="module")
def ab(admin: Client, anonymous: Client) -> dict[str, Any]:
    """City partner A (杭州 330100) and provincial agent B (浙江 330000), each with a user;
    A is always the more specific of the two, so the leads they already hold do not
    change who gets the next one."""
    world = World(admin, anonymous)
    a = world.partner(["330100"])
    b = world.partner(["330000"], type_="provincial_agent")
    return {
        "a": a,
        "b": b,
        "user_a": world.partner_user(a["id"]),
        "user_b": world.partner_user(b["id"]),
    }


def lead_body(**extra: Any) -> dict:
    return {
        "name": f"{company()}贸易有限公司",
        "contact_name": "李总",
        "phone": mobile(),
        "notes": "展会名片",
        **extra,
    }


def create_lead(client: Client, **extra: Any) -> dict:
    response = client.post(LEADS, lead_body(**extra))
    assert response.status_code == 201, response.text
    return response.json()


def hq_view(admin: Client, lead: dict) -> dict:
    response = admin.get(f"{LEADS}/{lead['id']}")
    assert response.status_code == 200, response.text
    return response.json()


def trail(lead: dict) -> list[tuple[str, int | None]]:
    return [(event["action"], event["partner_id"]) for event in lead["history"]]


# -- assignment -------------------------------------------------------------------------


def test_lead_in_a_city_goes_to_the_city_partner_not_the_province_partner(
    ab, hq, admin: Client
) -> None:
    with sole_coverage(admin, ["330100"], [ab["a"], ab["b"]]):
        lead = create_lead(hq["marketing"], region_code="330100")
    assert lead["status"] == "assigned"
    assert lead["assigned_partner_id"] == ab["a"]["id"]
    deadline = parse_time(lead["claim_deadline"])
    assert abs(deadline - (parse_time(lead["assigned_at"]) + timedelta(hours=72))) < timedelta(
        seconds=1
    )
    assert trail(lead) == [("assigned", ab["a"]["id"])]
    assert lead["id"] in [item["id"] for item in ab["user_a"].get(LEADS).json()["items"]]
    assert lead["id"] not in [item["id"] for item in ab["user_b"].get(LEADS).json()["items"]]


def test_lead_in_a_city_only_the_province_partner_covers_goes_to_it(ab, hq, admin: Client) -> None:
    with sole_coverage(admin, ["330200"], [ab["b"]]):
        lead = create_lead(hq["marketing"], region_code="330200")
    assert lead["status"] == "assigned"
    assert lead["assigned_partner_id"] == ab["b"]["id"]


def test_lead_in_a_region_nobody_covers_stays_unassigned_in_the_hq_queue(
    ab, hq, admin: Client
) -> None:
    with sole_coverage(admin, ["110000"], []):
        lead = create_lead(hq["marketing"], region_code="110000")
    assert lead["status"] == "unassigned"
    assert lead["assigned_partner_id"] is None
    assert lead["claim_deadline"] is None
    queue = admin.get(f"{LEADS}?status=unassigned&per_page=100").json()["items"]
    assert lead["id"] in [item["id"] for item in queue]
    for user in (ab["user_a"], ab["user_b"]):
        assert_problem(user.get(f"{LEADS}/{lead['id']}"), 404, "not_found")


def test_lead_region_is_resolved_from_its_address_alone(ab, hq, admin: Client) -> None:
    with sole_coverage(admin, ["330106"], [ab["a"], ab["b"]]):
        lead = create_lead(hq["marketing"], address="浙江省杭州市西湖区文三路90号")
    assert lead["region_code"] == "330106"
    assert lead["assigned_partner_id"] == ab["a"]["id"]


def test_lead_matching_a_customer_protected_for_a_partner_goes_to_that_partner(
    ab, hq, admin: Client
) -> None:
    stem = company()
    customer = file_customer(ab["user_b"], customer_body(name=f"{stem}(贸易)有限公司"))
    approved = hq["channel_manager"].post(f"/api/v1/filings/{customer['filing']['id']}/approve")
    assert approved.status_code == 200, approved.text
    with sole_coverage(admin, ["330106"], [ab["a"], ab["b"]]):
        # A is the more specific partner; the protected customer wins over that.
        lead = create_lead(hq["marketing"], name=f"{stem}（贸易）", region_code="330106")
    assert lead["assigned_partner_id"] == ab["b"]["id"]


def test_partner_and_hq_users_without_lead_create_cannot_enter_leads(ab) -> None:
    assert_problem(ab["user_a"].post(LEADS, lead_body(region_code="330100")), 403, "forbidden")


def test_leads_are_filtered_by_region_a_province_taking_in_its_cities(hq, admin: Client) -> None:
    with sole_coverage(admin, ["150100", "150200"], []):
        hohhot = create_lead(hq["marketing"], region_code="150102")
        baotou = create_lead(hq["marketing"], region_code="150200")

    def listed(region: str) -> set[int]:
        response = admin.get(f"{LEADS}?region_code={region}&per_page=100")
        assert response.status_code == 200, response.text
        return {item["id"] for item in response.json()["items"]}

    assert {hohhot["id"], baotou["id"]} <= listed("150000")
    assert hohhot["id"] in listed("150100") and baotou["id"] not in listed("150100")
    assert listed("150102") >= {hohhot["id"]} and baotou["id"] not in listed("150102")
    assert_problem(admin.get(f"{LEADS}?region_code=15"), 422, "invalid_input")


def test_lead_with_neither_region_nor_known_address_stays_unassigned(hq) -> None:
    lead = create_lead(hq["marketing"], address="某个不存在的地方")
    assert lead["region_code"] is None
    assert lead["status"] == "unassigned"


# -- claim ------------------------------------------------------------------------------


def test_claim_makes_the_customer_the_partners_protected_with_source_hq(
    ab, hq, admin: Client
) -> None:
    with sole_coverage(admin, ["330106"], [ab["a"], ab["b"]]):
        lead = create_lead(hq["marketing"], region_code="330106")
    response = ab["user_a"].post(f"{LEADS}/{lead['id']}/claim")
    assert response.status_code == 200, response.text
    customer = response.json()
    assert customer["source"] == "hq"
    assert customer["status"] == "protected"
    assert customer["owner_partner_id"] == ab["a"]["id"]
    assert customer["name"] == lead["name"]
    assert customer["region_code"] == "330106"
    until = parse_time(customer["protected_until"])
    assert abs(until - (datetime.now(UTC) + timedelta(days=180))) < timedelta(minutes=1)
    assert ab["user_a"].get(f"{CUSTOMERS}/{customer['id']}").json()["status"] == "protected"

    after = hq_view(admin, lead)
    assert after["status"] == "claimed"
    assert after["customer_id"] == customer["id"]
    assert trail(after)[-1] == ("claimed", ab["a"]["id"])
    # The claimed customer now blocks everyone else.
    blocked = ab["user_b"].post(CUSTOMERS, customer_body(name=lead["name"], region_code="330106"))
    assert_problem(blocked, 409, "filing_conflict")
    assert_problem(ab["user_a"].post(f"{LEADS}/{lead['id']}/claim"), 409, "invalid_state")


def test_only_the_assigned_partner_may_claim(ab, hq, admin: Client) -> None:
    with sole_coverage(admin, ["330100"], [ab["a"], ab["b"]]):
        lead = create_lead(hq["marketing"], region_code="330100")
    assert_problem(ab["user_b"].post(f"{LEADS}/{lead['id']}/claim"), 404, "not_found")
    assert hq_view(admin, lead)["status"] == "assigned"


# -- decline ----------------------------------------------------------------------------


def test_decline_needs_a_reason(ab, hq, admin: Client) -> None:
    with sole_coverage(admin, ["330100"], [ab["a"], ab["b"]]):
        lead = create_lead(hq["marketing"], region_code="330100")
        for body in ({}, {"reason": ""}, {"reason": "  "}):
            response = ab["user_a"].post(f"{LEADS}/{lead['id']}/decline", body)
            assert_problem(response, 422, "invalid_input")
    assert hq_view(admin, lead)["assigned_partner_id"] == ab["a"]["id"]


def test_declined_lead_goes_to_the_next_partner_and_then_back_to_hq(ab, hq, admin: Client) -> None:
    a, b = ab["a"]["id"], ab["b"]["id"]
    with sole_coverage(admin, ["330100"], [ab["a"], ab["b"]]):
        lead = create_lead(hq["marketing"], region_code="330100")
        assert lead["assigned_partner_id"] == a

        declined = ab["user_a"].post(f"{LEADS}/{lead['id']}/decline", {"reason": "不做这个行业"})
        assert declined.status_code == 200, declined.text
        told = declined.json()  # the decliner is not told where it went
        assert told.get("assigned_partner_id") != b
        assert b not in [event.get("partner_id") for event in told.get("history", [])]
        moved = hq_view(admin, lead)
        assert (moved["status"], moved["assigned_partner_id"]) == ("assigned", b)
        assert_problem(ab["user_a"].get(f"{LEADS}/{lead['id']}"), 404, "not_found")

        again = ab["user_b"].post(f"{LEADS}/{lead['id']}/decline", {"reason": "太远"})
        assert again.status_code == 200, again.text
    final = hq_view(admin, lead)
    assert (final["status"], final["assigned_partner_id"]) == ("unassigned", None)
    assert trail(final) == [
        ("assigned", a),
        ("declined", a),
        ("assigned", b),
        ("declined", b),
        ("unassigned", None),
    ]
    assert [e["reason"] for e in final["history"] if e["action"] == "declined"] == [
        "不做这个行业",
        "太远",
    ]


# -- claim deadline ---------------------------------------------------------------------


def test_passed_claim_deadline_moves_the_lead_on_and_finally_to_hq(ab, hq, admin: Client) -> None:
    a, b = ab["a"]["id"], ab["b"]["id"]
    with sole_coverage(admin, ["330100"], [ab["a"], ab["b"]]):
        lead = create_lead(hq["marketing"], region_code="330100")
        assert lead["assigned_partner_id"] == a
        age_lead(lead["id"], datetime.now(UTC) - timedelta(minutes=1))
        moved = wait_for(
            lambda: (seen := hq_view(admin, lead))["assigned_partner_id"] == b and seen,
            what="the lead passed to B",
        )
        assert trail(moved) == [("assigned", a), ("expired", a), ("assigned", b)]
        deadline = parse_time(moved["claim_deadline"])
        assert deadline > datetime.now(UTC) + timedelta(hours=71)
        assert_problem(ab["user_a"].post(f"{LEADS}/{lead['id']}/claim"), 404, "not_found")

        age_lead(lead["id"], datetime.now(UTC) - timedelta(minutes=1))
        final = wait_for(
            lambda: (seen := hq_view(admin, lead))["status"] == "unassigned" and seen,
            what="the lead back in the HQ queue",
        )
    assert trail(final)[-2:] == [("expired", b), ("unassigned", None)]


def test_a_partner_is_reminded_once_of_the_claim_deadlines_of_several_leads(
    ab, hq, admin: Client
) -> None:
    # The leads of an import come to their deadlines together: one reminder names them.
    with sole_coverage(admin, ["330100"], [ab["a"], ab["b"]]):
        leads = [create_lead(hq["marketing"], region_code="330100") for _ in range(3)]
        assert {lead["assigned_partner_id"] for lead in leads} == {ab["a"]["id"]}
        age_lead([lead["id"] for lead in leads], datetime.now(UTC) + timedelta(hours=6))
        ids = sorted(lead["id"] for lead in leads)

        def reminders() -> list[dict]:
            listed = ab["user_a"].get(NOTIFICATIONS, params={"per_page": 100}).json()["items"]
            return [m for m in listed if "deadline" in m["kind"] and m["subject_id"] in ids]

        [told] = wait_for(reminders, what="the reminder of the three deadlines")
    assert (told["kind"], told["subject_id"]) == ("lead_claim_deadlines_near", ids[0])
    assert told["title"] == f"线索申领即将截止：{leads[0]['name']} 等 3 条"
    # None of the three is reminded again, one by one, on the next ticks.
    time.sleep(1.0)
    assert len(reminders()) == 1


# -- import -----------------------------------------------------------------------------


def import_rows() -> tuple[list[list[Any]], dict[str, list[str]]]:
    """Rows of a file as a user would fill it: good ones, bad ones, an empty line.
    Row numbers count the header as row 1."""
    good = [
        [f"{company()}有限公司", "甲", mobile(), "330106", "", ""],  # row 2: to A
        [f"{company()}有限公司", "乙", mobile(), "110000", "", "北京"],  # row 3: nobody
        [f"{company()}有限公司", "丙", mobile(), "", "浙江省杭州市西湖区文三路1号", ""],  # 4
    ]
    bad = {
        5: [f"{company()}有限公司", "丁", "not a phone", "330106", "", ""],
        7: ["", "戊", mobile(), "330106", "", ""],
        8: [f"{company()}有限公司", "己", mobile(), "33010", "", ""],
    }
    rows: list[list[Any]] = [*good, bad[5], ["", "", "", "", "", ""], bad[7], bad[8]]
    return rows, {"good": [r[0] for r in good], "bad": [r[0] for r in bad.values() if r[0]]}


def csv_file(rows: list[list[Any]]) -> bytes:
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(IMPORT_HEADER)
    writer.writerows(rows)
    return out.getvalue().encode("utf-8-sig")


def xlsx_file(rows: list[list[Any]], header: list[str] = IMPORT_HEADER) -> bytes:
    book = Workbook()
    sheet = book.active
    sheet.append(header)
    for row in rows:
        # Numbers typed as numbers, as spreadsheets do.
        sheet.append([int(v) if isinstance(v, str) and v.isdigit() else v for v in row])
    out = io.BytesIO()
    book.save(out)
    return out.getvalue()


def upload(client: Client, filename: str, content: bytes):
    return client.post(f"{LEADS}/import", files={"file": (filename, content)})


def leads_named(names: list[str]) -> list:
    return filing_rows(
        "SELECT name, status, assigned_partner_id, region_code FROM leads WHERE name = ANY(:names)",
        names=names,
    )


@pytest.mark.parametrize("kind", ["csv", "xlsx"])
def test_import_creates_and_assigns_good_rows_and_reports_bad_rows_by_number(
    kind: str, ab, hq, admin: Client
) -> None:
    rows, names = import_rows()
    content = csv_file(rows) if kind == "csv" else xlsx_file(rows)
    with sole_coverage(admin, ["330106", "110000"], [ab["a"]]):
        response = upload(hq["marketing"], f"leads.{kind}", content)
    assert response.status_code == 200, response.text
    result = response.json()
    assert (result["created"], result["assigned"], result["unassigned"]) == (3, 2, 1)
    assert [(e["row"], sorted(e["errors"])) for e in result["errors"]] == [
        (5, ["phone"]),
        (7, ["name"]),
        (8, ["region_code"]),
    ]
    made = {row.name: row for row in leads_named(names["good"] + names["bad"])}
    assert sorted(made) == sorted(names["good"])
    first, second, third = (made[name] for name in names["good"])
    assert (first.status, first.assigned_partner_id) == ("assigned", ab["a"]["id"])
    assert (second.status, second.assigned_partner_id) == ("unassigned", None)
    assert (third.region_code, third.assigned_partner_id) == ("330106", ab["a"]["id"])


def test_the_same_file_uploaded_twice_is_refused_and_creates_nothing_more(
    ab, hq, admin: Client
) -> None:
    rows, names = import_rows()
    content = csv_file(rows)
    with sole_coverage(admin, ["330106", "110000"], [ab["a"]]):
        assert upload(hq["marketing"], "leads.csv", content).status_code == 200
        again = upload(hq["marketing"], "leads-copy.csv", content)
    assert_problem(again, 409, "conflict")
    assert "imported already" in again.json()["detail"]
    assert sorted(row.name for row in leads_named(names["good"])) == sorted(names["good"])


def test_an_import_retried_while_the_first_still_runs_is_applied_once(
    ab, hq, admin: Client
) -> None:
    """A client that timed out sends the file again while the first import is still being
    written: one answer is 200, the other 409, and every lead exists once."""
    rows = [[f"{company()}有限公司", "甲", mobile(), "330106", "", ""] for _ in range(300)]
    content = csv_file(rows)
    with sole_coverage(admin, ["330106"], [ab["a"]]), ThreadPoolExecutor(2) as pool:
        answers = list(pool.map(lambda _: upload(hq["marketing"], "leads.csv", content), range(2)))
    assert sorted(answer.status_code for answer in answers) == [200, 409], [
        answer.text[:200] for answer in answers
    ]
    names = [row[0] for row in rows]
    assert sorted(row.name for row in leads_named(names)) == sorted(names)


def test_import_accepts_chinese_headers(ab, hq, admin: Client) -> None:
    name = f"{company()}有限公司"
    content = xlsx_file(
        [[name, "张三", mobile(), "330100"]], header=["客户名称", "联系人", "手机号", "地区代码"]
    )
    with sole_coverage(admin, ["330100"], [ab["a"]]):
        response = upload(hq["marketing"], "线索.xlsx", content)
    assert response.status_code == 200, response.text
    summary = response.json()
    assert summary.pop("id")  # the import's (``GET /api/v1/leads/imports/{id}``)
    assert summary == {
        "created": 1,
        "assigned": 1,
        "unassigned": 0,
        "errors": [],
        "errors_total": 0,
    }
    assert [tuple(r) for r in leads_named([name])] == [(name, "assigned", ab["a"]["id"], "330100")]


def test_partner_user_cannot_import_leads(ab) -> None:
    response = upload(ab["user_a"], "leads.csv", csv_file([]))
    assert_problem(response, 403, "forbidden")


def test_import_row_with_an_unknown_region_code_is_reported_by_its_row(ab, hq) -> None:
    good = f"{company()}有限公司"
    rows = [
        [good, "甲", mobile(), "330106", "", ""],
        [f"{company()}有限公司", "乙", mobile(), "990000", "", ""],
    ]
    response = upload(hq["marketing"], "leads.csv", csv_file(rows))
    assert response.status_code == 200, response.text
    result = response.json()
    assert result["created"] == 1
    assert [e["row"] for e in result["errors"]] == [3]
