"""Customer filing (报备) over HTTP with every service running (DOMAIN.md, "Customer filing").

The walkthrough of the issue: partner A (杭州 330100) files a customer in 西湖区 330106;
partner B (浙江 330000) and C (南京 320100) try the same customer; HQ approves, rejects,
transfers; the housekeeping timer releases and reminds; an approved order extends.

Time moves through ``manage.py testing age-customer``; the shared helpers are in
``tests/support/filing_api.py``.
"""

from __future__ import annotations

import json
import re
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
import requests

from tests.support.answers import assert_problem, parse_time
from tests.support.client import Client
from tests.support.fake_data import USCC_ALPHABET, company, uscc
from tests.support.filing_api import (
    CUSTOMERS,
    FILINGS,
    FLOW,
    age_customer,
    customer_body,
    event_applied,
    file_customer,
    filing_rows,
    publish_order_approved,
)
from tests.support.waiting import wait_for
from tests.support.world import World

PROBLEM_KEYS = {"type", "title", "status", "code", "detail", "request_id"}


def leaks(response: requests.Response, *, texts: list[str], ids: list[int]) -> list[str]:
    """What of ``texts`` and ``ids`` the body gives away (request_id aside)."""
    body = response.json()
    body.pop("request_id", None)
    body.pop("status", None)  # the HTTP status, checked by the caller
    dumped = json.dumps(body, ensure_ascii=False)
    found = [t for t in texts if t and t in dumped]
    found += [str(i) for i in ids if re.search(rf"(?<![0-9]){i}(?![0-9])", dumped)]
    return found


# -- fixtures ---------------------------------------------------------------------------


@pytest.fixture(scope="module")
def hq(admin: Client, anonymous: Client) -> dict[str, Client]:
    """HQ staff by role: channel manager (approves filings), director, marketing."""
    world = World(admin, anonymous)
    return {
        role: world.login(world.user(None, [role]))
        for role in ("channel_manager", "channel_director", "marketing")
    }


@pytest.fixture(scope="module")
def abc(admin: Client, anonymous: Client) -> dict[str, Any]:
    """Partners A, B, C of the walkthrough with a sales user each; every test files
    customers of its own, so one set does for the module."""
    world = World(admin, anonymous)
    a = world.partner(["330100"])
    b = world.partner(["330000"], type_="provincial_agent")
    c = world.partner(["320100"])
    return {
        "a": a,
        "b": b,
        "c": c,
        "user_a": world.partner_user(a["id"]),
        "user_b": world.partner_user(b["id"]),
        "user_c": world.partner_user(c["id"]),
    }


def approve(client: Client, customer: dict, comment: str = "同意") -> dict:
    response = client.post(f"{FILINGS}/{customer['filing']['id']}/approve", {"comment": comment})
    assert response.status_code == 200, response.text
    return response.json()


def protected_customer(user: Client, approver: Client, **extra: Any) -> dict:
    customer = file_customer(user, customer_body(**extra))
    approve(approver, customer)
    response = user.get(f"{CUSTOMERS}/{customer['id']}")
    assert response.json()["status"] == "protected", response.text
    return response.json()


# -- filing and the duplicate check -----------------------------------------------------


def test_partner_files_customer_in_its_territory_and_it_is_pending(abc) -> None:
    body = customer_body()
    response = abc["user_a"].post(CUSTOMERS, body)
    assert response.status_code == 201, response.text
    customer = response.json()
    assert customer["status"] == "pending"
    assert customer["source"] == "partner"
    assert customer["owner_partner_id"] == abc["a"]["id"]
    assert customer["name"] == body["name"]
    assert customer["uscc"] == body["uscc"]
    assert customer["region_code"] == "330106"
    assert customer["protected_until"] is None
    assert customer["filing"]["status"] == "pending"
    assert customer["filing"]["partner_id"] == abc["a"]["id"]
    listed = abc["user_a"].get(f"{FILINGS}?status=pending").json()
    assert customer["filing"]["id"] in [f["id"] for f in listed["items"]]


def _assert_conflict_tells_nothing(response: requests.Response, a: dict, held: dict) -> None:
    body = assert_problem(response, 409, "filing_conflict")
    assert set(body) <= PROBLEM_KEYS, body
    assert body["status"] == 409
    assert not leaks(
        response,
        texts=[a["code"], a["name"], held["name"], held["uscc"], held["phone"]],
        ids=[a["id"], held["id"], held["filing"]["id"]],
    ), response.text


def test_second_partner_filing_same_uscc_gets_conflict_without_owner_or_customer(abc) -> None:
    held = file_customer(abc["user_a"], customer_body())
    rival = customer_body(uscc=held["uscc"])  # another name and phone, the same USCC
    response = abc["user_b"].post(CUSTOMERS, rival)
    _assert_conflict_tells_nothing(response, abc["a"], held)


def test_second_partner_filing_same_name_in_full_width_brackets_gets_conflict(abc) -> None:
    stem = company()
    held = file_customer(abc["user_a"], customer_body(name=f"{stem}(网络)科技"))
    rival = customer_body(name=f"{stem}（网络）科技 有限公司", region_code="330102")
    response = abc["user_b"].post(CUSTOMERS, rival)
    _assert_conflict_tells_nothing(response, abc["a"], held)


def test_second_partner_filing_same_mobile_written_with_country_code_gets_conflict(abc) -> None:
    held = file_customer(abc["user_a"], customer_body())
    phone = held["phone"]
    rival = customer_body(phone=f"+86 {phone[:3]}-{phone[3:7]}-{phone[7:]}")
    _assert_conflict_tells_nothing(abc["user_b"].post(CUSTOMERS, rival), abc["a"], held)


def totals(user: Client) -> tuple[int, int]:
    return user.get(CUSTOMERS).json()["total"], user.get(FILINGS).json()["total"]


def test_conflict_refusal_creates_nothing_for_the_second_partner(abc) -> None:
    held = file_customer(abc["user_a"], customer_body())
    before = totals(abc["user_b"])
    refused = abc["user_b"].post(CUSTOMERS, customer_body(uscc=held["uscc"]))
    assert refused.status_code == 409, refused.text
    assert totals(abc["user_b"]) == before


def test_partner_outside_the_region_gets_region_not_in_territory(abc) -> None:
    before = totals(abc["user_c"])
    response = abc["user_c"].post(CUSTOMERS, customer_body(region_code="330106"))
    body = assert_problem(response, 422, "region_not_in_territory")
    assert "region_code" in body["errors"]
    assert totals(abc["user_c"]) == before


def test_filing_with_a_wrong_uscc_check_character_is_invalid_input(abc) -> None:
    good = uscc()
    wrong = good[:17] + next(ch for ch in USCC_ALPHABET if ch != good[17])
    response = abc["user_a"].post(CUSTOMERS, customer_body(uscc=wrong))
    body = assert_problem(response, 422, "invalid_input")
    assert "uscc" in body["errors"]


def test_customer_check_says_conflict_true_or_false_and_nothing_else(abc) -> None:
    held = file_customer(abc["user_a"], customer_body())
    before = totals(abc["user_b"])
    taken = abc["user_b"].post(
        f"{CUSTOMERS}/check", {"name": held["name"].replace("科技", "(科技)")}
    )
    assert taken.status_code == 200, taken.text
    assert taken.json() == {"conflict": True}
    by_uscc = abc["user_b"].post(f"{CUSTOMERS}/check", {"name": company(), "uscc": held["uscc"]})
    assert by_uscc.json() == {"conflict": True}
    free = abc["user_b"].post(f"{CUSTOMERS}/check", {"name": f"{company()}有限公司"})
    assert free.json() == {"conflict": False}
    assert totals(abc["user_b"]) == before  # a check files nothing


def test_hq_user_cannot_check_or_file_customers(hq) -> None:
    assert_problem(hq["channel_manager"].post(CUSTOMERS, customer_body()), 403, "forbidden")
    check = hq["channel_manager"].post(f"{CUSTOMERS}/check", {"name": f"{company()}有限公司"})
    assert_problem(check, 403, "forbidden")


# -- approval ---------------------------------------------------------------------------


def test_channel_manager_approves_and_customer_is_protected_for_180_days(abc, hq) -> None:
    customer = file_customer(abc["user_a"], customer_body())
    filing = approve(hq["channel_manager"], customer)
    assert filing["status"] == "approved"
    decided = parse_time(filing["decided_at"])
    assert abs(decided - datetime.now(UTC)) < timedelta(minutes=1)
    after = abc["user_a"].get(f"{CUSTOMERS}/{customer['id']}").json()
    assert after["status"] == "protected"
    until = parse_time(after["protected_until"])
    assert abs(until - (decided + timedelta(days=180))) < timedelta(seconds=1)
    assert after["filing"]["steps"][0]["actions"][0]["action"] == "approve"


def test_partner_user_cannot_approve_a_filing(abc) -> None:
    customer = file_customer(abc["user_a"], customer_body())
    for user in (abc["user_a"], abc["user_b"]):
        response = user.post(f"{FILINGS}/{customer['filing']['id']}/approve", {"comment": "ok"})
        assert_problem(response, 403, "forbidden")
    assert abc["user_a"].get(f"{CUSTOMERS}/{customer['id']}").json()["status"] == "pending"


def test_hq_user_without_filing_approve_cannot_approve(abc, hq) -> None:
    customer = file_customer(abc["user_a"], customer_body())
    response = hq["marketing"].post(f"{FILINGS}/{customer['filing']['id']}/approve", {})
    assert_problem(response, 403, "forbidden")


def test_approving_twice_is_invalid_state(abc, hq) -> None:
    customer = file_customer(abc["user_a"], customer_body())
    approve(hq["channel_manager"], customer)
    again = hq["channel_manager"].post(f"{FILINGS}/{customer['filing']['id']}/approve", {})
    assert_problem(again, 409, "invalid_state")
    rejected_late = hq["channel_manager"].post(
        f"{FILINGS}/{customer['filing']['id']}/reject", {"comment": "晚了"}
    )
    assert_problem(rejected_late, 409, "invalid_state")


def test_rejection_needs_a_comment(abc, hq) -> None:
    customer = file_customer(abc["user_a"], customer_body())
    for body in ({}, {"comment": ""}, {"comment": "   "}):
        response = hq["channel_manager"].post(f"{FILINGS}/{customer['filing']['id']}/reject", body)
        problem = assert_problem(response, 422, "invalid_input")
        assert "comment" in problem["errors"]
    assert abc["user_a"].get(f"{CUSTOMERS}/{customer['id']}").json()["status"] == "pending"


def test_rejected_customer_no_longer_blocks_a_new_filing(abc, hq) -> None:
    body = customer_body()
    customer = file_customer(abc["user_a"], body)
    response = hq["channel_manager"].post(
        f"{FILINGS}/{customer['filing']['id']}/reject", {"comment": "资料不全"}
    )
    assert response.status_code == 200, response.text
    assert response.json()["status"] == "rejected"
    seen = abc["user_a"].get(f"{CUSTOMERS}/{customer['id']}").json()
    assert seen["status"] == "rejected"
    assert seen["filing"]["steps"][0]["actions"][0]["comment"] == "资料不全"
    assert abc["user_b"].post(f"{CUSTOMERS}/check", {"name": body["name"]}).json() == {
        "conflict": False
    }
    again = file_customer(abc["user_b"], body)
    assert again["status"] == "pending"
    assert again["owner_partner_id"] == abc["b"]["id"]


def test_edited_filing_flow_needs_both_steps_and_old_filings_keep_theirs(
    abc, hq, admin: Client
) -> None:
    original = admin.get(FLOW)
    assert original.status_code == 200, original.text
    old = file_customer(abc["user_a"], customer_body())
    two_steps = [
        {"name": "渠道经理审批", "permission": "filing.approve", "mode": "any"},
        {"name": "渠道总监审批", "permission": "order.approve.director", "mode": "any"},
    ]
    try:
        changed = admin.put(FLOW, {"steps": two_steps})
        assert changed.status_code == 200, changed.text
        assert [s["name"] for s in admin.get(FLOW).json()["steps"]] == [
            "渠道经理审批",
            "渠道总监审批",
        ]

        new = file_customer(abc["user_a"], customer_body())
        assert [s["status"] for s in new["filing"]["steps"]] == ["pending", "waiting"]
        first = approve(hq["channel_manager"], new)
        assert first["status"] == "pending"
        assert [s["status"] for s in first["steps"]] == ["approved", "pending"]
        assert abc["user_a"].get(f"{CUSTOMERS}/{new['id']}").json()["status"] == "pending"
        not_theirs = hq["channel_manager"].post(f"{FILINGS}/{new['filing']['id']}/approve", {})
        assert_problem(not_theirs, 403, "forbidden")
        second = approve(hq["channel_director"], new)
        assert second["status"] == "approved"
        assert abc["user_a"].get(f"{CUSTOMERS}/{new['id']}").json()["status"] == "protected"

        # The filing made before the change still has its single step.
        kept = approve(hq["channel_manager"], old)
        assert kept["status"] == "approved"
        assert len(kept["steps"]) == 1
    finally:
        restored = admin.put(FLOW, {"steps": original.json()["steps"]})
        assert restored.status_code == 200, restored.text
    assert len(admin.get(FLOW).json()["steps"]) == 1


def test_partner_user_cannot_edit_the_filing_flow(abc) -> None:
    response = abc["user_a"].put(FLOW, {"steps": [{"name": "x", "permission": "x"}]})
    assert_problem(response, 403, "forbidden")


# -- protection lifecycle ---------------------------------------------------------------


def test_expired_protection_releases_the_customer_and_another_partner_may_file_it(abc, hq) -> None:
    body = customer_body()
    customer = file_customer(abc["user_a"], body)
    approve(hq["channel_manager"], customer)
    assert_problem(abc["user_b"].post(CUSTOMERS, body), 409, "filing_conflict")

    age_customer(customer["id"], datetime.now(UTC) - timedelta(minutes=1))

    def released() -> bool:
        seen = abc["user_a"].get(f"{CUSTOMERS}/{customer['id']}").json()
        return seen["status"] == "released"

    wait_for(released, what="release of the expired customer")
    again = file_customer(abc["user_b"], body)
    assert again["owner_partner_id"] == abc["b"]["id"]
    assert again["status"] == "pending"
    assert again["id"] != customer["id"]


def test_reminder_is_recorded_when_protection_ends_within_a_week(abc, hq) -> None:
    customer = protected_customer(abc["user_a"], hq["channel_manager"])
    age_customer(customer["id"], datetime.now(UTC) + timedelta(days=3), clear_reminder=True)

    def reminded() -> Any:
        rows = filing_rows(
            "SELECT reminder_sent_at FROM customers WHERE id = :id", id=customer["id"]
        )
        return rows[0][0]

    wait_for(reminded, what="protection-ending reminder")
    events = filing_rows(
        "SELECT payload FROM outbox WHERE event_type = 'protection_ending'"
        " AND (payload -> 'data' ->> 'customer_id')::bigint = :id",
        id=customer["id"],
    )
    assert len(events) == 1
    assert events[0][0]["data"]["partner_id"] == abc["a"]["id"]
    seen = abc["user_a"].get(f"{CUSTOMERS}/{customer['id']}").json()
    assert seen["status"] == "protected"  # reminded, not released


def test_approved_order_event_extends_protection(abc, hq) -> None:
    customer = protected_customer(abc["user_a"], hq["channel_manager"])
    age_customer(customer["id"], datetime.now(UTC) + timedelta(days=10))
    approved_at = datetime.now(UTC).replace(microsecond=0)
    publish_order_approved(
        customer_id=customer["id"],
        partner_id=abc["a"]["id"],
        approved_at=approved_at.isoformat().replace("+00:00", "Z"),
    )

    def extended() -> bool:
        seen = abc["user_a"].get(f"{CUSTOMERS}/{customer['id']}").json()
        return parse_time(seen["protected_until"]) == approved_at + timedelta(days=180)

    wait_for(extended, what="protection extended by the approved order")


def test_approved_order_of_another_partner_does_not_extend_protection(abc, hq) -> None:
    customer = protected_customer(abc["user_a"], hq["channel_manager"])
    soon = datetime.now(UTC).replace(microsecond=0) + timedelta(days=10)
    age_customer(customer["id"], soon)
    event_id = publish_order_approved(
        customer_id=customer["id"],
        partner_id=abc["b"]["id"],
        approved_at=datetime.now(UTC).isoformat(),
    )
    wait_for(lambda: event_applied(event_id), what="the event handled")
    seen = abc["user_a"].get(f"{CUSTOMERS}/{customer['id']}").json()
    assert parse_time(seen["protected_until"]) == soon


# -- transfer ---------------------------------------------------------------------------


def test_hq_transfer_with_reason_moves_the_customer_and_the_old_owner_loses_it(abc, hq) -> None:
    customer = protected_customer(abc["user_a"], hq["channel_manager"])
    path = f"{CUSTOMERS}/{customer['id']}/transfer"
    assert_problem(
        hq["channel_manager"].post(path, {"partner_id": abc["b"]["id"]}), 422, "invalid_input"
    )
    assert_problem(
        abc["user_a"].post(path, {"partner_id": abc["b"]["id"], "reason": "x"}), 403, "forbidden"
    )
    response = hq["channel_manager"].post(
        path, {"partner_id": abc["b"]["id"], "reason": "区域调整"}
    )
    assert response.status_code == 200, response.text
    assert response.json()["owner_partner_id"] == abc["b"]["id"]
    assert response.json()["status"] == "protected"

    assert_problem(abc["user_a"].get(f"{CUSTOMERS}/{customer['id']}"), 404, "not_found")
    assert customer["id"] not in [c["id"] for c in abc["user_a"].get(CUSTOMERS).json()["items"]]
    mine = abc["user_b"].get(f"{CUSTOMERS}/{customer['id']}")
    assert mine.status_code == 200, mine.text
    assert mine.json()["owner_partner_id"] == abc["b"]["id"]
    audit = filing_rows(
        "SELECT from_partner_id, to_partner_id, reason FROM transfers WHERE customer_id = :id",
        id=customer["id"],
    )
    assert [tuple(row) for row in audit] == [(abc["a"]["id"], abc["b"]["id"], "区域调整")]


def test_transfer_to_a_partner_not_covering_the_region_is_refused(abc, hq) -> None:
    customer = protected_customer(abc["user_a"], hq["channel_manager"])
    response = hq["channel_manager"].post(
        f"{CUSTOMERS}/{customer['id']}/transfer", {"partner_id": abc["c"]["id"], "reason": "x"}
    )
    assert_problem(response, 422, "region_not_in_territory")
    assert abc["user_a"].get(f"{CUSTOMERS}/{customer['id']}").status_code == 200
