"""Termination as a handover, its rules without a database: what a termination request
may say (``TerminateIn``, ``rules.handover_of``), what filing makes of the event (the
handover's start, who receives a customer, a pending filing withdrawn), which orders are
cancelled, and who is told in which words."""

from __future__ import annotations

from datetime import UTC, datetime
from types import SimpleNamespace

import pytest

from services.common.errors import InvalidInput
from services.common.schemas import load
from services.filing import handover as filing_handover
from services.notify.messages import render
from services.notify.payloads import allowed_data
from services.notify.recipients import audiences
from services.notify.schemas import EVENT_KINDS
from services.orders import handover as orders_handover
from services.partners import rules
from services.partners.schemas import DEFAULT_TERMINATION_REASON, TerminateIn

NOW = datetime(2026, 12, 3, 8, 0, tzinfo=UTC)


def partner(id_: int, status: str = "active") -> SimpleNamespace:
    return SimpleNamespace(id=id_, status=status)


# -- the request ---------------------------------------------------------------------------


def test_an_empty_body_terminates_as_before_releasing_with_the_default_reason() -> None:
    data = load(TerminateIn, {})
    assert rules.handover_of(partner(1), data, None) == {
        "customers": "release",
        "to_partner_id": None,
        "reason": DEFAULT_TERMINATION_REASON,
    }


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"customers": "release"}, "reason"),
        ({"customers": "release", "reason": "  "}, "reason"),
        ({"customers": "transfer", "reason": "到期"}, "to_partner_id"),
        ({"customers": "transfer", "to_partner_id": None, "reason": "到期"}, "to_partner_id"),
        ({"customers": "release", "to_partner_id": 2, "reason": "到期"}, "to_partner_id"),
        ({"reason": "到期", "to_partner_id": 2}, "to_partner_id"),
        ({"customers": "give_away", "reason": "到期"}, "customers"),
        ({"customers": "release", "reason": "x" * 501}, "reason"),
    ],
)
def test_a_body_is_refused_without_a_reason_or_with_a_receiver_that_does_not_fit(
    body, field
) -> None:
    with pytest.raises(InvalidInput) as refused:
        load(TerminateIn, body)
    assert field in refused.value.errors


def test_a_transfer_names_another_active_partner() -> None:
    data = load(TerminateIn, {"customers": "transfer", "to_partner_id": 2, "reason": " 到期 "})
    assert rules.handover_of(partner(1), data, partner(2)) == {
        "customers": "transfer",
        "to_partner_id": 2,
        "reason": "到期",
    }


@pytest.mark.parametrize(
    ("receiver", "code"),
    [
        (None, "unknown_partner"),
        (partner(1), "invalid_receiver"),
        (partner(2, "suspended"), "invalid_receiver"),
        (partner(2, "terminated"), "invalid_receiver"),
    ],
)
def test_a_transfer_to_nobody_itself_or_an_inactive_partner_is_refused(receiver, code) -> None:
    data = {"customers": "transfer", "to_partner_id": 2, "reason": "到期"}
    with pytest.raises(InvalidInput) as refused:
        rules.handover_of(partner(1), data, receiver)
    assert refused.value.code == code
    assert "to_partner_id" in refused.value.errors


# -- filing ----------------------------------------------------------------------------------


def test_a_termination_told_before_handovers_existed_releases_with_the_default_reason() -> None:
    progress = filing_handover.first_progress(7, None)
    assert progress == {
        "partner_id": 7,
        "customers": "release",
        "to_partner_id": None,
        "reason": filing_handover.DEFAULT_REASON,
        "released": 0,
        "transferred": 0,
        "filings_rejected": 0,
        "leads_reassigned": 0,
        "leads_unassigned": 0,
    }


def test_a_customer_goes_to_the_receiver_only_where_it_covers_the_region() -> None:
    progress = filing_handover.first_progress(
        7, {"customers": "transfer", "to_partner_id": 9, "reason": "到期"}
    )
    assert filing_handover.receiver_of(progress, [{"partner_id": 3}, {"partner_id": 9}]) == 9
    assert filing_handover.receiver_of(progress, [{"partner_id": 3}]) is None
    released = filing_handover.first_progress(7, {"customers": "release", "reason": "到期"})
    assert filing_handover.receiver_of(released, [{"partner_id": 9}]) is None


def test_a_pending_filing_is_withdrawn_by_the_platform_with_the_reason() -> None:
    step = {"name": "channel", "permission": "filing.approve", "mode": "any", "approvers": []}
    filing = SimpleNamespace(
        flow={
            "status": "pending",
            "submitted_by": 4,
            "started_at": "2026-12-01T00:00:00Z",
            "steps": [
                step | {"status": "approved", "actions": [{"user_id": 5, "action": "approve"}]},
                step | {"name": "director", "status": "pending", "actions": []},
                step | {"name": "last", "status": "waiting", "actions": []},
            ],
        },
        status="pending",
        decided_at=None,
        customer=SimpleNamespace(status="pending"),
    )
    filing_handover.withdraw_filing(filing, "合作终止", NOW)
    assert (filing.status, filing.decided_at, filing.customer.status) == (
        "rejected",
        NOW,
        "rejected",
    )
    assert filing.flow["status"] == "rejected"
    assert [s["status"] for s in filing.flow["steps"]] == ["approved", "rejected", "waiting"]
    assert filing.flow["steps"][1]["actions"] == [
        {"user_id": None, "action": "reject", "comment": "合作终止", "at": "2026-12-03T08:00:00Z"}
    ]


def test_another_batch_follows_only_when_one_kind_filled_its_batch() -> None:
    assert filing_handover.more_to_do(2, [1, 2], [], [])
    assert not filing_handover.more_to_do(2, [1], [1], [])


# -- orders ----------------------------------------------------------------------------------


def test_only_unapproved_orders_are_cancelled_with_the_terminations_reason() -> None:
    assert set(orders_handover.OPEN) == {"draft", "submitted", "rejected"}
    assert orders_handover.reason_of({"customers": "release", "reason": "到期"}) == "到期"
    assert orders_handover.reason_of(None) == orders_handover.DEFAULT_REASON


# -- who is told -------------------------------------------------------------------------------

DONE = {
    "partner_id": 7,
    "customers": "transfer",
    "to_partner_id": 9,
    "reason": "合作协议到期",
    "released": 1,
    "transferred": 2,
    "filings_rejected": 3,
    "leads_reassigned": 4,
    "leads_unassigned": 5,
}


def test_hq_partner_managers_are_told_the_handover_is_done_in_both_languages() -> None:
    assert "partner_handover_done" in EVENT_KINDS
    [audience] = audiences("partner_handover_done", DONE)
    assert (audience.permission, audience.partner_id, audience.partner_directed) == (
        "partner.manage",
        None,
        False,
    )
    zh = render("partner_handover_done", DONE, "zh", audience.variant)
    en = render("partner_handover_done", DONE, "en", audience.variant)
    assert (zh.subject_type, zh.subject_id) == ("partner", 7)
    assert "转给其他合作伙伴的客户 2 个" in zh.body and "退回总部的线索 5 条" in zh.body
    assert "2 customers transferred" in en.body and "3 filings rejected" in en.body
    assert allowed_data("partner_handover_done", DONE, None) == DONE
    assert allowed_data("partner_handover_done", DONE, 7) == {}


def test_a_customer_released_at_termination_is_told_as_such() -> None:
    data = {
        "customer_id": 5,
        "customer_name": "济南历下科技有限公司",
        "partner_id": 7,
        "region_code": "370102",
        "source": "partner",
        "status": "released",
        "protected_until": None,
        "kind": "terminated",
        "reason": "合作协议到期",
    }
    [audience] = audiences("customer_released", data)
    assert audience.variant == "terminated"
    assert "合作已终止" in render("customer_released", data, "zh", audience.variant).body
    assert "partnership ended" in render("customer_released", data, "en", audience.variant).body
