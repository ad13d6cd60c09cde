"""Who hears of which event."""

from __future__ import annotations

import pytest

from services.notify.recipients import Audience, MalformedEvent, audiences, resolve

STEP_ANY = {"name": "渠道经理审批", "permission": "filing.approve", "mode": "any", "approvers": []}


class FakeDirectory:
    def __init__(self, people: dict[tuple[str, int | None], list[dict]], users: dict) -> None:
        self.people = people
        self.users = users
        self.asked: list[tuple[str, int | None]] = []
        self.about: list[int | None] = []

    def recipients(
        self, permission: str, partner_id: int | None, about_partner_id: int | None = None
    ) -> list[dict]:
        self.asked.append((permission, partner_id))
        self.about.append(about_partner_id)
        return self.people.get((permission, partner_id), [])

    def user(self, user_id: int) -> dict | None:
        return self.users.get(user_id)


def person(user_id: int, partner_id: int | None = None) -> dict:
    return {"id": user_id, "partner_id": partner_id, "language": "zh"}


def test_lead_assigned_goes_to_the_assigned_partners_users_who_claim_leads() -> None:
    [audience] = audiences("lead_assigned", {"lead_id": 1, "partner_id": 7})
    assert audience == Audience("lead.claim", 7, partner_directed=True)


def test_lead_left_in_the_hq_queue_tells_no_partner() -> None:
    assert audiences("lead_claim_deadline_near", {"lead_id": 1, "partner_id": None}) == []


def test_filing_waiting_goes_to_hq_holders_of_the_step_permission() -> None:
    for kind in ("filing_submitted", "filing_step_waiting", "order_step_waiting"):
        [audience] = audiences(kind, {"partner_id": 7, "step": STEP_ANY})
        assert audience == Audience("filing.approve", None, about_partner_id=7)
        assert not audience.partner_directed


def test_approvers_are_asked_for_about_the_partner_so_other_regions_hear_nothing() -> None:
    [audience] = audiences("filing_submitted", {"partner_id": 7, "step": STEP_ANY})
    directory = FakeDirectory({("filing.approve", None): [person(4)]}, {})

    assert [p["id"] for p in resolve(audience, directory)] == [4]
    assert directory.about == [7]


def test_step_needing_every_named_approver_goes_to_those_approvers_only() -> None:
    step = {
        "name": "会签",
        "permission": "order.approve.finance",
        "mode": "all",
        "approvers": [4, 6],
    }
    [audience] = audiences("order_step_waiting", {"order_id": 1, "partner_id": 7, "step": step})
    directory = FakeDirectory(
        {("order.approve.finance", None): [person(4), person(5), person(6)]}, {}
    )
    assert [p["id"] for p in resolve(audience, directory)] == [4, 6]


def test_decisions_go_to_the_partner_users_who_file_or_order() -> None:
    expected = {
        "filing_approved": "customer.create",
        "filing_rejected": "customer.create",
        "protection_ending": "customer.create",
        "customer_released": "customer.create",
        "order_approved": "order.create",
        "order_rejected": "order.create",
        "commission_entry_created": "report.read",
        "statement_issued": "commission.confirm",
    }
    for kind, permission in expected.items():
        [audience] = audiences(kind, {"partner_id": 3})
        assert (audience.permission, audience.partner_id) == (permission, 3), kind
        assert audience.partner_directed


def test_entries_of_payments_pick_their_own_wording() -> None:
    base = {"entry_id": 1, "partner_id": 7}
    variants = {
        (None, "commission"): "",
        (None, "reversal"): "reversal",
        (3, "commission"): "collected",
        (3, "reversal"): "refunded",
    }
    for (payment_id, kind), variant in variants.items():
        data = base | {"kind": kind, "payment_id": payment_id}
        [audience] = audiences("commission_entry_created", data)
        assert audience.variant == variant, (payment_id, kind)


def test_transfer_tells_both_partners() -> None:
    found = audiences("customer_transferred", {"partner_id": 2, "from_partner_id": 1})
    assert [(a.partner_id, a.variant) for a in found] == [(2, "in"), (1, "out")]


def test_comment_goes_to_participants_but_not_to_its_author() -> None:
    data = {"order_id": 1, "author_user_id": 5, "participant_user_ids": [5, 8, 9]}
    [audience] = audiences("order_commented", data)
    directory = FakeDirectory({}, {8: person(8, 3), 9: None})
    assert [p["id"] for p in resolve(audience, directory)] == [8]
    assert directory.asked == []  # participants are named, not looked up by permission


def test_comment_nobody_else_takes_part_in_tells_nobody() -> None:
    data = {"order_id": 1, "author_user_id": 5, "participant_user_ids": [5]}
    assert audiences("order_commented", data) == []


def test_event_that_does_not_say_which_partner_is_malformed() -> None:
    with pytest.raises(MalformedEvent):
        audiences("filing_approved", {"customer_id": 1})
    with pytest.raises(MalformedEvent):
        audiences("filing_submitted", {"customer_id": 1, "step": {"name": "x"}})


def test_events_that_tell_nobody_have_no_audience() -> None:
    assert audiences("lead_claimed", {"partner_id": 3}) == []
