"""The public pool's rules on their own: who may claim a released customer, and when a
customer nobody follows up is announced and released."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from services.common.errors import Conflict
from services.filing import rules
from services.filing.models import Customer

NOW = datetime(2027, 3, 1, 8, 0, tzinfo=UTC)


def customer(status: str = "released", **extra) -> Customer:
    return Customer(
        status=status,
        owner_partner_id=1,
        protection_days=180,
        created_at=NOW - timedelta(days=400),
        **extra,
    )


def terms(cap: int | None = None, cooldown: int | None = 30) -> dict:
    return {"max_protected_customers": cap, "reclaim_cooldown_days": cooldown}


def refusal(*args) -> str | None:
    try:
        rules.check_claim(*args)
    except Conflict as exc:
        return exc.code
    return None


def test_a_released_customer_is_claimed_within_cap_and_outside_cooldown() -> None:
    assert refusal(customer(), terms(), 0, None, NOW) is None
    assert refusal(customer(), terms(cap=3), 2, NOW - timedelta(days=30), NOW) is None


def test_a_customer_claimed_since_is_already_claimed() -> None:
    assert refusal(customer("protected"), terms(), 0, None, NOW) == "already_claimed"


@pytest.mark.parametrize(
    ("cap", "held", "code"),
    [
        (0, 0, "claim_limit_reached"),
        (2, 2, "claim_limit_reached"),
        (2, 5, "claim_limit_reached"),
        (None, 10_000, None),
    ],
)
def test_the_cap_counts_what_the_partner_holds(cap, held, code) -> None:
    assert refusal(customer(), terms(cap=cap), held, None, NOW) == code


@pytest.mark.parametrize(
    ("released_days_ago", "cooldown", "code"),
    [(29.9, 30, "cooldown"), (30, 30, None), (0, 0, None), (1, None, "cooldown"), (31, None, None)],
)
def test_the_releaser_waits_its_cooldown(released_days_ago, cooldown, code) -> None:
    last = NOW - timedelta(days=released_days_ago)
    assert refusal(customer(), terms(cooldown=cooldown), 0, last, NOW) == code


def test_a_claim_protects_for_the_claimers_days_from_now() -> None:
    c = customer(last_follow_up_at=NOW - timedelta(days=3), idle_reminder_sent_at=NOW)
    rules.claim_from_pool(c, 7, 90, NOW)
    assert (c.owner_partner_id, c.status, c.source) == (7, "protected", "partner")
    assert c.protected_until == NOW + timedelta(days=90)
    assert (c.protection_started_at, c.last_follow_up_at, c.idle_reminder_sent_at) == (
        NOW,
        None,
        None,
    )


def test_idleness_counts_from_the_last_follow_up_or_the_start_of_protection() -> None:
    start = NOW - timedelta(days=40)
    c = customer("protected", protection_started_at=start)
    assert rules.idle_since(c) == start
    c.last_follow_up_at = NOW - timedelta(days=2)
    assert rules.idle_since(c) == NOW - timedelta(days=2)
    assert rules.idle_since(customer("protected")) == NOW - timedelta(days=400)


def test_idle_release_is_due_after_the_days_and_announced_a_week_before_once() -> None:
    c = customer("protected", protection_started_at=NOW - timedelta(days=22))
    assert not rules.idle_reminder_due(c, 30, NOW)
    assert not rules.idle_reminder_due(c, None, NOW)
    c.protection_started_at = NOW - timedelta(days=23)
    assert rules.idle_reminder_due(c, 30, NOW)
    c.idle_reminder_sent_at = NOW
    assert not rules.idle_reminder_due(c, 30, NOW)
    assert not rules.idle_release_due(c, 30, NOW)
    c.protection_started_at = NOW - timedelta(days=30)
    assert rules.idle_release_due(c, 30, NOW)
    assert not rules.idle_release_due(c, None, NOW)
    rules.recorded_follow_up(c, NOW)
    assert (c.idle_reminder_sent_at, rules.idle_release_due(c, 30, NOW)) == (None, False)


def test_only_the_partner_holding_a_customer_gives_it_back() -> None:
    from services.common.context import Caller
    from services.common.errors import Forbidden

    customer = Customer(owner_partner_id=7, status=rules.PROTECTED)
    parent = Caller(user_id=1, partner_id=3, partner_ids=frozenset({3, 7}))
    with pytest.raises(Forbidden):
        rules.check_releasable(customer, parent)
    rules.check_releasable(customer, Caller(user_id=2, partner_id=7))
