"""Who gets a lead: the most specific covering partner, then the fairest one.

The Assigner is fed fake answers of the partners service and preset open-lead counts and
last-assignment times, so no database or broker is involved.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import eventlet
import pytest

from services.common.errors import InvalidInput, ServiceTimeout
from services.filing.models import Lead, NewLead
from services.filing.routing import Assigner

NOW = datetime(2026, 3, 1, 9, 0, tzinfo=UTC)


def cover(partner_id: int, territory_code: str, claim_hours: int = 72) -> dict:
    return {
        "partner_id": partner_id,
        "territory_code": territory_code,
        "protection_days": 180,
        "claim_hours": claim_hours,
    }


def assigner(
    covering: dict[str, list[dict]],
    open_leads: dict[int, int] | None = None,
    last: dict[int, datetime] | None = None,
) -> Assigner:
    calls: list[str] = []

    def fake_covering(region: str) -> list[dict]:
        calls.append(region)
        return covering.get(region, [])

    result = Assigner(session=None, covering=fake_covering, terms=lambda pid: None)
    result._open = dict(open_leads or {})
    result._last = dict(last or {})
    result.calls = calls
    return result


def lead(region: str | None) -> NewLead:
    return NewLead(
        name="甲公司",
        contact_name="李总",
        phone="13800000000",
        status="unassigned",
        created_at=NOW,
        region_code=region,
    )


def chosen(a: Assigner, region: str | None, excluded: set[int] | None = None) -> int | None:
    terms = a.choose(region, excluded or set())
    return None if terms is None else terms["partner_id"]


def test_city_partner_is_chosen_before_the_province_partner() -> None:
    a = assigner({"330106": [cover(2, "330000"), cover(1, "330100")]}, open_leads={1: 50})
    assert chosen(a, "330106") == 1


def test_district_partner_is_chosen_before_city_and_province() -> None:
    a = assigner(
        {"330106": [cover(1, "330000"), cover(2, "330100"), cover(3, "330106")]},
        open_leads={3: 99},
    )
    assert chosen(a, "330106") == 3


def test_among_equally_specific_partners_the_one_with_fewest_open_leads_wins() -> None:
    a = assigner(
        {"330100": [cover(1, "330100"), cover(2, "330100"), cover(3, "330100")]},
        open_leads={1: 4, 2: 1, 3: 2},
    )
    assert chosen(a, "330100") == 2


def test_with_equal_open_leads_the_partner_assigned_longest_ago_wins() -> None:
    a = assigner(
        {"330100": [cover(1, "330100"), cover(2, "330100"), cover(3, "330100")]},
        open_leads={1: 2, 2: 2, 3: 2},
        last={1: NOW - timedelta(hours=1), 2: NOW - timedelta(days=3), 3: NOW},
    )
    assert chosen(a, "330100") == 2


def test_a_partner_never_assigned_comes_before_one_assigned_before() -> None:
    a = assigner(
        {"330100": [cover(1, "330100"), cover(2, "330100")]},
        last={1: NOW - timedelta(days=400)},
    )
    assert chosen(a, "330100") == 2


def test_fewest_open_leads_counts_before_time_since_last_assignment() -> None:
    a = assigner(
        {"330100": [cover(1, "330100"), cover(2, "330100")]},
        open_leads={1: 3, 2: 1},
        last={1: NOW - timedelta(days=30), 2: NOW},
    )
    assert chosen(a, "330100") == 2


def test_excluded_partner_is_skipped_even_when_most_specific() -> None:
    a = assigner({"330106": [cover(1, "330100"), cover(2, "330000")]})
    assert chosen(a, "330106", excluded={1}) == 2


def test_excluded_partner_is_skipped_among_equals() -> None:
    a = assigner({"330100": [cover(1, "330100"), cover(2, "330100")]}, open_leads={1: 0, 2: 5})
    assert chosen(a, "330100", excluded={1}) == 2


def test_nobody_left_when_every_covering_partner_is_excluded() -> None:
    a = assigner({"330100": [cover(1, "330100"), cover(2, "330000")]})
    assert chosen(a, "330100", excluded={1, 2}) is None


def test_region_nobody_covers_gets_nobody() -> None:
    assert chosen(assigner({}), "110000") is None


def test_lead_without_region_gets_nobody_without_asking_partners() -> None:
    a = assigner({})
    assert chosen(a, None) is None
    assert a.calls == []


def test_answer_of_the_partners_service_is_asked_once_per_region_in_a_batch() -> None:
    a = assigner({"330100": [cover(1, "330100")]})
    for _ in range(5):
        chosen(a, "330100")
    assert a.calls == ["330100"]


def test_leads_of_one_batch_take_turns_between_equal_partners() -> None:
    a = assigner({"330100": [cover(1, "330100"), cover(2, "330100"), cover(3, "330100")]})
    order = []
    for minute in range(6):
        terms = a.choose("330100", set())
        lead = Lead(name="x", contact_name="y", phone="1", history=[])
        a.assign(lead, terms, NOW + timedelta(minutes=minute), user_id=None)
        order.append(lead.assigned_partner_id)
    assert sorted(order[:3]) == [1, 2, 3]
    assert order[3:] == order[:3]


def test_assigned_lead_gets_the_partner_types_claim_deadline_and_a_history_row() -> None:
    a = assigner({"330100": [cover(7, "330100", claim_hours=48)]})
    lead = Lead(name="x", contact_name="y", phone="1", history=[])
    a.assign(lead, a.choose("330100", set()), NOW, user_id=5)
    assert lead.status == "assigned"
    assert lead.assigned_partner_id == 7
    assert lead.claim_deadline == NOW + timedelta(hours=48)
    assert [(e.action, e.partner_id, e.user_id) for e in lead.history] == [("assigned", 7, 5)]


def test_routing_asks_no_service_even_when_a_customer_became_protected_after_consulting(
    monkeypatch,
) -> None:
    """Routing runs inside the write transaction (a locked lead): the partners service is
    asked before it, never during it. A protection that appears in between is not seen."""
    import services.filing.routing as routing

    asked: list[int] = []
    a = Assigner(
        session=None,
        covering=lambda region: [cover(1, "330100")],
        terms=lambda pid: asked.append(pid) or {"partner_id": pid, "claim_hours": 72},
    )
    lead = Lead(name="杭州某某公司", region_code="330106", history=[])
    monkeypatch.setattr(routing, "protected_owner", lambda session, lead: None)
    a.consult(lead)
    monkeypatch.setattr(routing, "protected_owner", lambda session, lead: 9)
    a._open, a._last = {}, {}
    assert a.route(lead, NOW) is True
    assert asked == []
    assert lead.assigned_partner_id == 1


def test_the_regions_of_many_leads_are_asked_side_by_side_once_each() -> None:
    asked: list[str] = []
    at_once = [0, 0]  # now, most

    def covering(region: str) -> list[dict]:
        asked.append(region)
        at_once[0] += 1
        at_once[1] = max(at_once)
        eventlet.sleep(0.01)
        at_once[0] -= 1
        return [cover(int(region), region)]

    routing = Assigner(None, covering, lambda partner_id: None)
    regions = ["330106", "330108", "320102", "440305", "330106", None]
    routing.ask_covering(lead(region) for region in regions)
    assert sorted(asked) == ["320102", "330106", "330108", "440305"]
    assert at_once[1] > 1
    routing.ask_covering([lead("330108"), lead("320102")])
    assert len(asked) == 4  # kept: not asked again


def test_a_region_the_service_refuses_is_left_to_consult_which_raises() -> None:
    def covering(region: str) -> list[dict]:
        if region == "320102":
            raise InvalidInput("not a region of the dictionary")
        return [cover(1, region)]

    routing = Assigner(None, covering, lambda partner_id: None)
    hangzhou, nanjing = lead("330106"), lead("320102")
    routing._owners = {hangzhou: None, nanjing: None}  # no customer protected
    routing.ask_covering([hangzhou, nanjing])
    routing.consult(hangzhou)
    with pytest.raises(InvalidInput):
        routing.consult(nanjing)


def test_the_service_away_stops_the_batch_once_every_call_has_ended() -> None:
    asked: list[str] = []

    def covering(region: str) -> list[dict]:
        asked.append(region)
        if region == "320102":
            raise ServiceTimeout("the partners service did not answer in time")
        return [cover(1, region)]

    routing = Assigner(None, covering, lambda partner_id: None)
    with pytest.raises(ServiceTimeout):
        routing.ask_covering([lead("330106"), lead("320102"), lead("440305")])
    assert sorted(asked) == ["320102", "330106", "440305"]
    assert sorted(routing._covering_cache) == ["330106", "440305"]  # what came is kept
