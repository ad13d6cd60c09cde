"""Extensions' (延期) rules on their own: who may ask, how many per protection period, and
that an approval never revives a customer that left its owner's protection."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from services.common.approval import FlowInstance, parse_flow
from services.common.context import Caller
from services.common.errors import AppError, Forbidden
from services.filing import rules
from services.filing.models import Customer, Extension

NOW = datetime(2027, 3, 1, 8, 0, tzinfo=UTC)
STARTED = NOW - timedelta(days=100)
UNTIL = NOW + timedelta(days=80)
OWNER = Caller(user_id=11, partner_id=1, partner_ids=frozenset({1}))
APPROVER = Caller(user_id=99, permissions=frozenset({"extension.approve"}))


def customer(status: str = "protected", **extra) -> Customer:
    values = {
        "status": status,
        "owner_partner_id": 1,
        "protection_days": 180,
        "protection_started_at": STARTED,
        "protected_until": UNTIL,
        "reminder_sent_at": NOW - timedelta(days=1),
    }
    return Customer(**(values | extra))


def extension(of: Customer, days: int = 30) -> Extension:
    flow = FlowInstance.start(
        parse_flow(rules.DEFAULT_EXTENSION_FLOW), {}, submitted_by=OWNER.user_id, started_at=NOW
    )
    return Extension(
        customer=of,
        partner_id=1,
        days=days,
        reason="r",
        status="pending",
        flow=flow.to_dict(),
        period_started_at=of.protection_started_at,
    )


def refusal(call, *args) -> str | None:
    try:
        call(*args)
    except AppError as exc:
        return exc.code
    return None


def test_the_owner_asks_within_the_periods_two() -> None:
    assert refusal(rules.check_extension_request, customer(), OWNER, 0, 0, NOW) is None
    assert refusal(rules.check_extension_request, customer(), OWNER, 1, 0, NOW) is None


def test_a_third_in_one_period_and_a_second_pending_are_refused() -> None:
    args = (customer(), OWNER)
    assert refusal(rules.check_extension_request, *args, 2, 0, NOW) == "extension_limit_reached"
    assert refusal(rules.check_extension_request, *args, 1, 1, NOW) == "extension_pending"


def test_only_the_holding_partner_asks() -> None:
    parent = Caller(user_id=12, partner_id=7, partner_ids=frozenset({7, 1}))
    with pytest.raises(Forbidden):
        rules.check_extension_request(customer(), parent, 0, 0, NOW)


@pytest.mark.parametrize(
    "changes",
    [
        {"status": "released"},
        {"status": "pending"},
        {"owner_partner_id": 2},
        {"protection_started_at": NOW - timedelta(days=1)},
        {"protected_until": NOW},
    ],
)
def test_a_customer_not_protected_for_the_asker_in_that_period_is_not_extended(changes) -> None:
    subject = customer()
    ext = extension(subject)
    for name, value in changes.items():
        setattr(subject, name, value)
    assert refusal(rules.approve_extension, ext, APPROVER, None, NOW) == "customer_not_protected"
    assert subject.protected_until == changes.get("protected_until", UNTIL)
    assert ext.status == "pending"


def test_approval_moves_the_end_by_its_days_and_the_reminder_is_due_again() -> None:
    subject = customer()
    ext = extension(subject, 30)
    outcome, _ = rules.approve_extension(ext, APPROVER, "ok", NOW)
    assert outcome == "approved"
    assert subject.protected_until == UNTIL + timedelta(days=30)
    assert subject.reminder_sent_at is None
    assert (ext.status, ext.protected_until_before, ext.protected_until_after) == (
        "approved",
        UNTIL,
        UNTIL + timedelta(days=30),
    )
    assert refusal(rules.approve_extension, ext, APPROVER, None, NOW) == "invalid_state"


def test_the_asker_does_not_approve_and_a_cancelled_one_is_not_approved() -> None:
    subject = customer()
    ext = extension(subject)
    asker = Caller(user_id=OWNER.user_id, permissions=frozenset({"extension.approve"}))
    assert refusal(rules.approve_extension, ext, asker, None, NOW) == "same_approver"
    rules.cancel_extension(ext, NOW)
    assert ext.status == "cancelled"
    assert refusal(rules.approve_extension, ext, APPROVER, None, NOW) == "invalid_state"
    assert subject.protected_until == UNTIL


def test_rejection_leaves_the_protection() -> None:
    subject = customer()
    ext = extension(subject)
    rules.reject_extension(ext, APPROVER, "no", NOW)
    assert ext.status == "rejected" and subject.protected_until == UNTIL
