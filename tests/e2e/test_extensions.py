"""Extensions (延期申请) over HTTP with every service running (DOMAIN.md, "Channel
operations": Extension).

Partners A and B are city partners of 福州 (350100), P the 福建 agent (350000): no other
test's partner covers these regions. A holds customers of 鼓楼区 (350102) and asks for
more days; channel managers approve or reject.

Time moves as ``manage.py testing age-customer`` moves it (``age_customer``): the end of
a protection is written where the filing timer finds it.
"""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from tests.support.answers import assert_problem, ok
from tests.support.approvals import StepApprovers
from tests.support.client import Client
from tests.support.filing_api import (
    CUSTOMERS,
    EXTENSION_FLOW,
    EXTENSIONS,
    FILINGS,
    age_customer,
    customer_body,
    customer_events,
    file_customer,
    request_extension,
)
from tests.support.waiting import wait_for
from tests.support.world import World

CITY, DISTRICT = "350100", "350102"


@pytest.fixture(scope="module")
def people(admin: Client, anonymous: Client) -> dict[str, Any]:
    world = World(admin, anonymous)
    a, b = world.partner([CITY]), world.partner([CITY])
    p = world.partner(["350000"], type_="provincial_agent")
    # Approvers are made before anything is asked: an account made after a flow started
    # decides none of its steps.
    manager = world.login(world.user(None, ["channel_manager"]))
    return {
        "world": world,
        "admin": admin,
        "manager": manager,
        "steps": StepApprovers(world, steps=2),
        "a": a,
        "b": b,
        "user_a": world.partner_user(a["id"]),
        "user_b": world.partner_user(b["id"]),
        "user_p": world.partner_user(p["id"]),
    }


def protected(people: dict) -> dict:
    """A customer of A in 鼓楼区, approved."""
    body = customer_body(DISTRICT)
    customer = file_customer(people["user_a"], body)
    ok(people["manager"].post(f"{FILINGS}/{customer['filing']['id']}/approve", {}))
    return ok(people["user_a"].get(f"{CUSTOMERS}/{customer['id']}")) | {"_body": body}


def until_of(people: dict, customer: dict) -> datetime:
    return when(ok(people["admin"].get(f"{CUSTOMERS}/{customer['id']}"))["protected_until"])


def when(value: str) -> datetime:
    return datetime.fromisoformat(value.replace("Z", "+00:00"))


def approve(people: dict, extension: dict) -> Any:
    return people["manager"].post(f"{EXTENSIONS}/{extension['id']}/approve", {"comment": "同意"})


# -- request, approve, reject -------------------------------------------------------------------


def test_an_approved_extension_moves_the_protection_by_its_days(people) -> None:
    customer = protected(people)
    before = until_of(people, customer)
    asked = request_extension(people["user_a"], customer["id"], 30, "客户预算审批中")
    assert (asked["status"], asked["days"], asked["partner_id"]) == (
        "pending",
        30,
        people["a"]["id"],
    )
    assert asked["customer_id"] == customer["id"]
    assert when(asked["protected_until_before"]) == before
    assert asked["protected_until_after"] is None
    assert [s["permission"] for s in asked["steps"]] == ["extension.approve"]
    assert asked["steps"][0]["status"] == "pending"

    pending = ok(people["manager"].get(EXTENSIONS, params={"status": "pending", "per_page": 100}))
    assert asked["id"] in {e["id"] for e in pending["items"]}

    decided = ok(approve(people, asked))
    assert decided["status"] == "approved" and decided["decided_at"]
    assert when(decided["protected_until_after"]) == before + timedelta(days=30)
    assert until_of(people, customer) == before + timedelta(days=30)
    assert ok(people["user_a"].get(f"{EXTENSIONS}/{asked['id']}"))["status"] == "approved"
    assert_problem(approve(people, asked), 409, "invalid_state")


def test_a_rejected_extension_leaves_the_protection_and_does_not_count(people) -> None:
    customer = protected(people)
    before = until_of(people, customer)
    asked = request_extension(people["user_a"], customer["id"], 60)
    path = f"{EXTENSIONS}/{asked['id']}/reject"
    assert_problem(people["manager"].post(path, {"comment": ""}), 422, "invalid_input")
    assert_problem(people["user_a"].post(path, {"comment": "不行"}), 403, "forbidden")
    rejected = ok(people["manager"].post(path, {"comment": "理由不充分"}))
    assert rejected["status"] == "rejected"
    assert rejected["steps"][0]["actions"][0]["comment"] == "理由不充分"
    assert until_of(people, customer) == before
    # Two more may still be asked for: a rejection is not one of the period's two.
    for _ in range(2):
        ok(approve(people, request_extension(people["user_a"], customer["id"], 1)))


def test_a_third_extension_in_one_protection_period_is_refused(people) -> None:
    customer = protected(people)
    before = until_of(people, customer)
    for days in (10, 20):
        ok(approve(people, request_extension(people["user_a"], customer["id"], days)))
    path = f"{CUSTOMERS}/{customer['id']}/extensions"
    assert_problem(
        people["user_a"].post(path, {"days": 5, "reason": "再延一次"}),
        409,
        "extension_limit_reached",
    )
    assert until_of(people, customer) == before + timedelta(days=30)


def test_a_second_extension_while_one_is_pending_is_refused(people) -> None:
    customer = protected(people)
    request_extension(people["user_a"], customer["id"], 10)
    path = f"{CUSTOMERS}/{customer['id']}/extensions"
    assert_problem(
        people["user_a"].post(path, {"days": 5, "reason": "再来一个"}), 409, "extension_pending"
    )


def test_the_same_request_sent_twice_with_its_key_asks_once(people) -> None:
    customer = protected(people)
    path = f"{CUSTOMERS}/{customer['id']}/extensions"
    headers = {"Idempotency-Key": f"ext-{customer['id']}"}
    first = ok(people["user_a"].post(path, {"days": 7, "reason": "重试"}, headers=headers), 201)
    again = ok(people["user_a"].post(path, {"days": 7, "reason": "重试"}, headers=headers), 201)
    assert again["id"] == first["id"]
    listed = ok(people["user_a"].get(EXTENSIONS, params={"customer_id": customer["id"]}))
    assert listed["total"] == 1


def test_only_the_owner_asks_others_see_nothing_and_bad_input_is_refused(people) -> None:
    customer = protected(people)
    path = f"{CUSTOMERS}/{customer['id']}/extensions"
    body = {"days": 10, "reason": "需要更多时间"}
    for other in ("user_b", "user_p"):
        assert_problem(people[other].post(path, body), 404, "not_found")
    assert_problem(people["manager"].post(path, body), 403, "forbidden")
    assert_problem(
        people["user_a"].post(f"{CUSTOMERS}/999999999/extensions", body), 404, "not_found"
    )
    for bad in (
        {"days": 0, "reason": "x"},
        {"days": 366, "reason": "x"},
        {"days": "10", "reason": "x"},
        {"days": 1.5, "reason": "x"},
        {"days": 10, "reason": ""},
        {"days": 10, "reason": "   "},
        {"days": 10, "reason": "a\u202eb"},
        {"days": 10, "reason": "x" * 501},
        {"days": 10},
    ):
        assert_problem(people["user_a"].post(path, bad), 422, "invalid_input")

    asked = request_extension(people["user_a"], customer["id"], 10)
    for other in ("user_b", "user_p"):
        assert_problem(people[other].get(f"{EXTENSIONS}/{asked['id']}"), 404, "not_found")
        seen = ok(people[other].get(EXTENSIONS, params={"per_page": 100}))["items"]
        assert asked["id"] not in {e["id"] for e in seen}
    assert_problem(
        people["user_a"].post(f"{EXTENSIONS}/{asked['id']}/approve", {}), 403, "forbidden"
    )


def test_a_customer_not_protected_has_no_extension(people) -> None:
    pending = file_customer(people["user_a"], customer_body(DISTRICT))
    assert_problem(
        people["user_a"].post(
            f"{CUSTOMERS}/{pending['id']}/extensions", {"days": 10, "reason": "尚未审批"}
        ),
        409,
        "customer_not_protected",
    )
    released = protected(people)
    ok(people["user_a"].post(f"{CUSTOMERS}/{released['id']}/release", {"reason": "不跟了"}))
    assert_problem(
        people["user_a"].post(
            f"{CUSTOMERS}/{released['id']}/extensions", {"days": 10, "reason": "后悔了"}
        ),
        409,
        "customer_not_protected",
    )


# -- the reminder and notifications --------------------------------------------------------------


def test_after_an_extension_the_protection_ending_reminder_fires_again(people) -> None:
    customer = protected(people)
    age_customer(customer["id"], datetime.now(UTC) + timedelta(days=3))
    wait_for(lambda: customer_events(customer["id"], "protection_ending"), what="the reminder")
    asked = request_extension(people["user_a"], customer["id"], 30)
    ok(approve(people, asked))
    # The new end is more than a week away: no reminder yet; moved near it, one is due.
    time.sleep(1.5)
    assert len(customer_events(customer["id"], "protection_ending")) == 1
    age_customer(customer["id"], datetime.now(UTC) + timedelta(days=2))
    wait_for(
        lambda: len(customer_events(customer["id"], "protection_ending")) == 2,
        what="the reminder before the new end",
    )


def test_the_approvers_and_then_the_partner_are_told(people) -> None:
    customer = protected(people)
    name = customer["_body"]["name"]
    asked = request_extension(people["user_a"], customer["id"], 15, "客户预算下月批复")

    def messages(client: Client, kind: str) -> list[dict]:
        items = ok(client.get("/api/v1/notifications", params={"kind": kind, "per_page": 100}))
        return [m for m in items["items"] if name in m["title"]]

    told = wait_for(lambda: messages(people["manager"], "extension_requested"), what="approver")
    assert told[0]["subject_type"] == "extension" and told[0]["subject_id"] == asked["id"]
    assert "15" in told[0]["body"] and "客户预算下月批复" in told[0]["body"]
    assert not messages(people["user_a"], "extension_requested")

    ok(approve(people, asked))
    approved = wait_for(lambda: messages(people["user_a"], "extension_approved"), what="owner")
    assert approved[0]["subject_type"] == "customer"
    assert approved[0]["subject_id"] == customer["id"]
    assert not messages(people["user_b"], "extension_approved")

    other = protected(people)
    refused = request_extension(people["user_a"], other["id"], 5)
    path = f"{EXTENSIONS}/{refused['id']}/reject"
    ok(people["manager"].post(path, {"comment": "不符合条件"}))
    name = other["_body"]["name"]
    rejected = wait_for(lambda: messages(people["user_a"], "extension_rejected"), what="reject")
    assert "不符合条件" in rejected[0]["body"]


# -- the flow --------------------------------------------------------------------------------------


def test_a_two_step_extension_flow_round_trips_and_runs_step_by_step(people) -> None:
    steps = people["steps"]
    admin = people["admin"]
    before = ok(admin.get(EXTENSION_FLOW))
    assert before["kind"] == "extension"
    two = [
        {"name": "渠道经理审批", "permission": "extension.approve", "mode": "any"},
        {"name": "渠道总监审批", "permission": "extension.approve", "mode": "any"},
    ]
    try:
        assert [s["name"] for s in ok(admin.put(EXTENSION_FLOW, {"steps": two}))["steps"]] == [
            "渠道经理审批",
            "渠道总监审批",
        ]
        got = ok(admin.get(EXTENSION_FLOW))
        assert [(s["name"], s["permission"], s["mode"]) for s in got["steps"]] == [
            (s["name"], s["permission"], s["mode"]) for s in two
        ]
        # The filing flow is another flow.
        assert ok(admin.get("/api/v1/approval-flows/filing"))["steps"] != got["steps"]
        assert_problem(people["manager"].get(EXTENSION_FLOW), 403, "forbidden")

        customer = protected(people)
        start = until_of(people, customer)
        asked = request_extension(people["user_a"], customer["id"], 20)
        assert len(asked["steps"]) == 2
        path = f"{EXTENSIONS}/{asked['id']}"
        first = ok(steps.nth(0).post(f"{path}/approve", {"comment": "一审同意"}))
        assert first["status"] == "pending"
        assert [s["status"] for s in first["steps"]] == ["approved", "pending"]
        assert until_of(people, customer) == start
        # Nobody decides two steps of one approval.
        assert_problem(steps.nth(0).post(f"{path}/approve", {}), 403, "same_approver")
        wait_for(
            lambda: customer_events(customer["id"], "extension_step_waiting"),
            what="the second step's event",
        )
        done = ok(steps.nth(1).post(f"{path}/approve", {"comment": "二审同意"}))
        assert done["status"] == "approved"
        assert until_of(people, customer) == start + timedelta(days=20)
    finally:
        ok(admin.put(EXTENSION_FLOW, {"steps": before["steps"]}))


# -- the race with the expiry timer ------------------------------------------------------------


def test_an_extension_approved_after_the_customer_was_released_is_refused(people) -> None:
    customer = protected(people)
    asked = request_extension(people["user_a"], customer["id"], 30)
    ended = datetime.now(UTC) - timedelta(seconds=1)
    age_customer(customer["id"], ended)
    assert_problem(approve(people, asked), 409, "customer_not_protected")
    wait_for(
        lambda: ok(people["admin"].get(f"{CUSTOMERS}/{customer['id']}"))["status"] == "released",
        what="the release",
    )
    extension = ok(people["manager"].get(f"{EXTENSIONS}/{asked['id']}"))
    assert extension["status"] == "cancelled"
    assert_problem(approve(people, asked), 409, "invalid_state")
    assert until_of(people, customer) == ended


def test_a_transfer_cancels_what_the_previous_owner_asked_for(people) -> None:
    customer = protected(people)
    asked = request_extension(people["user_a"], customer["id"], 30)
    until = until_of(people, customer)
    moved = people["admin"].post(
        f"{CUSTOMERS}/{customer['id']}/transfer",
        {"partner_id": people["b"]["id"], "reason": "区域调整"},
    )
    assert ok(moved)["owner_partner_id"] == people["b"]["id"]
    extension = ok(people["manager"].get(f"{EXTENSIONS}/{asked['id']}"))
    assert extension["status"] == "cancelled"
    pending = ok(people["manager"].get(f"{EXTENSIONS}?status=pending&customer_id={customer['id']}"))
    assert pending["items"] == []
    assert_problem(approve(people, asked), 409, "invalid_state")
    assert until_of(people, customer) == until


def test_approval_and_expiry_at_the_same_moment_end_consistent(people) -> None:
    outcomes = []
    for attempt in range(8):
        customer = protected(people)
        asked = request_extension(people["user_a"], customer["id"], 30)
        # The protection ends within the next second, and the approval is sent from a
        # little before to a little after (it takes a few hundredths of a second to
        # arrive); the timer ticks every half second.
        ends = datetime.now(UTC) + timedelta(seconds=0.4 + 0.1 * attempt)
        age_customer(customer["id"], ends)
        sent = ends + timedelta(seconds=0.02 * (attempt - 5))
        time.sleep(max(0.0, (sent - datetime.now(UTC)).total_seconds()))
        answer = approve(people, asked)
        time.sleep(1.5)  # three ticks of the timer
        state = ok(people["admin"].get(f"{CUSTOMERS}/{customer['id']}"))
        extension = ok(people["manager"].get(f"{EXTENSIONS}/{asked['id']}"))
        if answer.status_code == 200:
            assert extension["status"] == "approved", extension
            assert state["status"] == "protected", (state, extension)
            assert when(state["protected_until"]) == ends + timedelta(days=30)
            outcomes.append("extended")
        else:
            # Refused as the protection had ended, or as the timer's release had already
            # cancelled the extension.
            assert answer.status_code == 409, answer.text
            assert answer.json()["code"] in ("customer_not_protected", "invalid_state")
            wait_for(
                lambda c=customer: (
                    ok(people["admin"].get(f"{CUSTOMERS}/{c['id']}"))["status"] == "released"
                ),
                what="the release",
            )
            extension = ok(people["manager"].get(f"{EXTENSIONS}/{asked['id']}"))
            assert extension["status"] == "cancelled", extension
            assert until_of(people, customer) == ends
            outcomes.append("released")
        assert not (state["status"] == "released" and extension["status"] == "approved")
    print("approval against expiry:", outcomes)
