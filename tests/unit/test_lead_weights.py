"""Grade weights in lead assignment, HQ's assignment by hand, and the cap on what a
partner holds: the rules and the Assigner fed fake answers of the partners service and
preset counts, so no database or broker is involved."""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta

import pytest

from services.common.errors import Conflict, InvalidState
from services.filing import rules
from services.filing.models import Lead, LeadEvent
from services.filing.routing import Assigner
from services.notify.messages import render
from services.notify.payloads import allowed_data
from services.notify.recipients import audiences

NOW = datetime(2026, 3, 1, 9, 0, tzinfo=UTC)
REGION = "510100"


def cover(partner_id: int, weight: int | None = None, territory: str = REGION) -> dict:
    terms = {
        "partner_id": partner_id,
        "territory_code": territory,
        "protection_days": 180,
        "claim_hours": 72,
    }
    if weight is not None:
        terms["lead_weight"] = weight
    return terms


def assigner(covering: list[dict], assigned: dict[int, int] | None = None) -> Assigner:
    """An Assigner of ``covering`` in ``REGION`` whose partners were assigned ``assigned``
    leads there before (as the history would say)."""
    result = Assigner(session=None, covering=lambda region: covering, terms=lambda pid: None)
    result._open, result._last = {}, {}
    result._assigned = {REGION: {c["partner_id"]: 0 for c in covering} | (assigned or {})}
    return result


def route_many(a: Assigner, count: int, claims: bool = False, seed: int = 7) -> list[int]:
    """Route ``count`` leads of ``REGION``; with ``claims``, the partners claim their open
    leads now and then in between (their open counts drop to nothing)."""
    draw = random.Random(seed)
    chosen = []
    for minute in range(count):
        lead = Lead(name="x", contact_name="y", phone="1", region_code=REGION, history=[])
        terms = a.choose(REGION, set())
        a.assign(lead, terms, NOW + timedelta(minutes=minute), user_id=None)
        chosen.append(lead.assigned_partner_id)
        if claims and draw.random() < 0.3:
            a._open[draw.choice(list(a._open))] = 0
    return chosen


# -- weights ---------------------------------------------------------------------------------


@pytest.mark.parametrize("claims", [False, True])
def test_weights_three_and_one_split_three_thousand_leads_three_to_one(claims: bool) -> None:
    chosen = route_many(assigner([cover(1, 3), cover(2, 1)]), 3000, claims=claims)
    assert chosen.count(1) == 2250
    assert chosen.count(2) == 750
    # Every stretch of four leads already keeps the share: no run of one partner.
    for start in range(0, 3000, 4):
        assert chosen[start : start + 4].count(1) == 3


def test_without_the_weights_claims_in_between_would_skew_the_split() -> None:
    """The fewest-open-leads rule alone is no share: partner 1, weight 3, claiming all the
    time would get nearly everything. The weighted rule does not look at open leads."""
    a = assigner([cover(1, 1), cover(2, 1)])
    chosen = []
    for minute in range(400):
        lead = Lead(name="x", contact_name="y", phone="1", region_code=REGION, history=[])
        a.assign(lead, a.choose(REGION, set()), NOW + timedelta(minutes=minute), None)
        chosen.append(lead.assigned_partner_id)
        a._open[1] = 0  # partner 1 claims at once
    assert chosen.count(1) > 390
    weighted = assigner([cover(1, 3), cover(2, 1)])
    chosen = []
    for minute in range(400):
        lead = Lead(name="x", contact_name="y", phone="1", region_code=REGION, history=[])
        weighted.assign(lead, weighted.choose(REGION, set()), NOW + timedelta(minutes=minute), None)
        chosen.append(lead.assigned_partner_id)
        weighted._open[1] = 0
    assert chosen.count(1) == 300


def test_leads_assigned_before_count_towards_the_share() -> None:
    a = assigner([cover(1, 3), cover(2, 1)], assigned={1: 30, 2: 0})
    # Partner 2 catches up first: (30 + 1) / 3 is more than (n + 1) / 1 up to n = 9.
    assert route_many(a, 10) == [2] * 10
    # 30 to 10: three to one from here on.
    assert route_many(a, 4) == [1, 1, 1, 2]


def test_a_partner_without_a_weight_weighs_one() -> None:
    chosen = route_many(assigner([cover(1, 2), cover(2)]), 300)
    assert (chosen.count(1), chosen.count(2)) == (200, 100)


def test_a_heavier_province_partner_does_not_beat_a_city_partner() -> None:
    a = assigner([cover(1, 1), cover(2, 50, territory="510000")])
    assert route_many(a, 20) == [1] * 20


def test_an_excluded_heavy_partner_leaves_the_lead_to_the_others() -> None:
    a = assigner([cover(1, 3), cover(2, 1), cover(3, 1)])
    assert rules.choose_partner(
        [cover(1, 3), cover(2, 1), cover(3, 1)], {1}, {2: 5, 3: 0}, {}, a._assigned[REGION]
    ) == cover(3, 1)


def test_equal_weights_keep_fewest_open_leads_then_longest_ago() -> None:
    candidates = [cover(1, 2), cover(2, 2)]
    # Partner 1 had far more of the region's leads; equal weights do not look at that.
    assert rules.choose_partner(candidates, set(), {1: 0, 2: 3}, {}, {1: 100, 2: 0}) == cover(1, 2)
    last = {1: NOW, 2: NOW - timedelta(hours=1)}
    assert rules.choose_partner(candidates, set(), {}, last, None)["partner_id"] == 2


def test_partners_equally_far_below_their_share_fall_back_to_the_fair_rule() -> None:
    # (0 + 1) / 2 == (1 + 1) / 4: the fewer open leads wins.
    candidates = [cover(1, 2), cover(2, 4)]
    assert rules.choose_partner(candidates, set(), {1: 1, 2: 0}, {}, {1: 0, 2: 1}) == cover(2, 4)
    assert rules.choose_partner(candidates, set(), {1: 0, 2: 1}, {}, {1: 0, 2: 1}) == cover(1, 2)


def test_the_routed_history_and_hand_assignments_both_count_as_assigned() -> None:
    assert set(rules.ASSIGNING_ACTIONS) == {"assigned", "hq_assigned"}


# -- by hand ---------------------------------------------------------------------------------


def lead(status: str = "unassigned", partner: int | None = None, region: str | None = REGION):
    return Lead(
        name="x",
        contact_name="y",
        phone="1",
        region_code=region,
        status=status,
        assigned_partner_id=partner,
        history=[],
    )


def test_a_claimed_lead_is_not_assigned_by_hand() -> None:
    with pytest.raises(Conflict) as refused:
        rules.check_hand_assignable(lead("claimed", 4), 5)
    assert refused.value.code == "already_claimed"


def test_a_lead_is_not_handed_to_the_partner_holding_it_nor_without_a_region() -> None:
    with pytest.raises(InvalidState):
        rules.check_hand_assignable(lead("assigned", 5), 5)
    with pytest.raises(InvalidState):
        rules.check_hand_assignable(lead(region=None), 5)
    rules.check_hand_assignable(lead("assigned", 4), 5)
    rules.check_hand_assignable(lead(), 5)


def test_assignment_by_hand_says_who_and_why_and_withdraws_it_from_its_holder() -> None:
    held = lead("assigned", 4)
    held.history.append(LeadEvent(action="assigned", partner_id=4, at=NOW))
    terms = cover(5) | {"claim_hours": 48}
    before = rules.assign_by_hand(held, terms, NOW, user_id=9, reason="客户指定")
    assert before == 4
    assert (held.status, held.assigned_partner_id) == ("assigned", 5)
    assert held.claim_deadline == NOW + timedelta(hours=48)
    assert [(e.action, e.partner_id, e.user_id, e.reason) for e in held.history] == [
        ("assigned", 4, None, None),
        ("withdrawn", 4, 9, "客户指定"),
        ("hq_assigned", 5, 9, "客户指定"),
    ]
    queued = lead()
    assert rules.assign_by_hand(queued, cover(5), NOW, user_id=9, reason=None) is None
    assert [e.action for e in queued.history] == ["hq_assigned"]


# -- the cap ---------------------------------------------------------------------------------


def test_the_cap_refuses_at_the_cap_and_no_cap_refuses_nothing() -> None:
    rules.check_within_cap({"max_protected_customers": 2}, 1)
    for held in (2, 3):
        with pytest.raises(Conflict) as refused:
            rules.check_within_cap({"max_protected_customers": 2}, held)
        assert refused.value.code == "claim_limit_reached"
    rules.check_within_cap({"max_protected_customers": None}, 10_000)
    rules.check_within_cap({}, 10_000)
    with pytest.raises(Conflict):
        rules.check_within_cap({"max_protected_customers": 0}, 0)


# -- what the partner is told ----------------------------------------------------------------

ROUTED = {
    "lead_id": 3,
    "lead_name": "成都锦江贸易",
    "partner_id": 7,
    "region_code": REGION,
    "status": "assigned",
    "claim_deadline": "2026-03-04T09:00:00Z",
}
BY_HAND = ROUTED | {"by_hand": True, "assigned_by": 12, "reason": "客户指定成都伙伴"}


def test_a_lead_assigned_by_hand_tells_the_partner_who_and_why_in_both_languages() -> None:
    [audience] = audiences("lead_assigned", BY_HAND)
    assert (audience.partner_id, audience.variant) == (7, "by_hand")
    zh = render("lead_assigned", BY_HAND, "zh", audience.variant)
    assert "成都锦江贸易" in zh.title
    assert "客户指定成都伙伴" in zh.body and "12" in zh.body
    en = render("lead_assigned", BY_HAND, "en", audience.variant)
    assert "by hand" in en.body and "客户指定成都伙伴" in en.body
    assert allowed_data("lead_assigned", BY_HAND, 7)["reason"] == "客户指定成都伙伴"


def test_a_routed_lead_is_told_as_before() -> None:
    [audience] = audiences("lead_assigned", ROUTED)
    assert audience.variant == ""
    assert render("lead_assigned", ROUTED, "zh").title == "新线索待申领：成都锦江贸易"
    assert set(allowed_data("lead_assigned", ROUTED, 7)) == set(ROUTED)
