"""What a delivery carries, per audience: HQ sees the event's listed fields; a partner sees
its own and never another partner's id."""

from __future__ import annotations

from services.notify.messages import render
from services.notify.payloads import ALLOWED, payload_of
from services.notify.recipients import APPROVAL_EVENTS, PARTNER_EVENTS

OLD, NEW = 7, 9
TRANSFER = {
    "id": "e1",
    "occurred_at": "2026-12-01T08:00:00Z",
    "data": {
        "customer_id": 5,
        "customer_name": "杭州西湖科技有限公司",
        "partner_id": NEW,
        "from_partner_id": OLD,
        "region_code": "330106",
        "source": "partner",
        "status": "protected",
        "protected_until": "2027-05-30T08:00:00Z",
        "reason": "区域调整",
        "added_later": "not listed",
    },
}


def _payload(partner_id: int | None, variant: str) -> dict:
    rendered = render("customer_transferred", TRANSFER["data"], "zh", variant)
    return payload_of(TRANSFER, "customer_transferred", rendered, partner_id)


def test_the_partner_a_customer_left_is_not_told_who_has_it_now() -> None:
    payload = _payload(OLD, "out")
    assert payload["partner_id"] == OLD
    assert payload["data"]["from_partner_id"] == OLD
    assert payload["data"] == {
        "customer_id": 5,
        "customer_name": "杭州西湖科技有限公司",
        "region_code": "330106",
        "from_partner_id": OLD,
        "reason": "区域调整",
    }


def test_the_partner_a_customer_came_to_is_not_told_who_had_it() -> None:
    payload = _payload(NEW, "in")
    assert (payload["partner_id"], payload["data"]["partner_id"]) == (NEW, NEW)
    assert "from_partner_id" not in payload["data"]


def test_hq_is_told_both_partners_and_no_field_that_is_not_listed() -> None:
    payload = _payload(None, "in")
    assert payload["partner_id"] == NEW
    assert (payload["data"]["partner_id"], payload["data"]["from_partner_id"]) == (NEW, OLD)
    assert "added_later" not in payload["data"]


def test_approval_steps_and_comment_participants_stay_with_hq() -> None:
    for kind in APPROVAL_EVENTS:
        assert ALLOWED[kind].partner == frozenset()
    commented = ALLOWED["order_commented"]
    assert "participant_user_ids" in commented.hq - commented.partner


def test_every_event_a_partner_hears_of_has_its_lists() -> None:
    for kind in {*PARTNER_EVENTS, "customer_transferred", "order_commented"}:
        assert ALLOWED[kind].partner, kind
        assert ALLOWED[kind].partner <= ALLOWED[kind].hq, kind
