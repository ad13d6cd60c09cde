"""The notify service on its own, through Nameko's testing tools, on PostgreSQL.

The partners service is replaced (``replace_dependencies``) by a directory of people made
up by each test; the delivery loop is replaced too, so queued deliveries stay queued and
can be looked at. The service gets a database and a vhost of its own, so that the stack
the e2e tests run never sees these rows or events.
"""

# The fixtures come from tests.support.notify_service; pytest passes them by name.
# ruff: noqa: F811

from __future__ import annotations

from typing import Any

import pytest
from sqlalchemy import text
from sqlalchemy.orm import Session

from services.common import sealing
from services.common.context import Caller
from services.common.errors import Forbidden, InvalidInput, InvalidState, NotFound
from services.common.outbox import make_envelope
from tests.support.notify_service import (  # noqa: F401 - fixtures
    call,
    caller_of,
    deliver_event,
    deliveries,
    inbox,
    isolated,
    lead_assigned,
    new_id,
    people,
    redeliver_event,
    service,
    user,
    webhook,
)


def customer(**fields) -> dict:
    """The data of one of filing's customer events (``CustomerEvent`` and its kin)."""
    return {
        "region_code": "330106",
        "source": "filed",
        "status": "protected",
        "protected_until": "2026-11-01T00:00:00Z",
    } | fields


# -- the inbox ------------------------------------------------------------------------------


def test_lead_assigned_puts_one_message_in_each_claimers_inbox_in_their_language(
    service, people
) -> None:
    partner = new_id()
    zh, en = user(partner), user(partner, "en")
    people[("lead.claim", partner)] = [zh, en]
    deliver_event(service, "on_lead_assigned", lead_assigned(partner, "甲公司"))

    [mine] = inbox(service, zh)
    assert mine["kind"] == "lead_assigned"
    assert mine["title"] == "新线索待申领：甲公司"
    assert mine["subject_type"] == "lead"
    assert mine["read_at"] is None
    assert [m["title"] for m in inbox(service, en)] == ["New lead to claim: 甲公司"]
    service.partners.recipients.assert_called_with(
        {"permission": "lead.claim", "partner_id": partner}
    )


def test_the_same_event_twice_leaves_one_message_per_person(service, people) -> None:
    partner = new_id()
    sales = user(partner)
    people[("lead.claim", partner)] = [sales]
    event = lead_assigned(partner)
    deliver_event(service, "on_lead_assigned", event)
    redeliver_event(service, "on_lead_assigned", event, then=lead_assigned(partner, "乙公司"))
    assert [m["title"] for m in inbox(service, sales)] == [
        "新线索待申领：乙公司",
        "新线索待申领：杭州云栖科技",
    ]


def test_a_user_sees_only_their_own_messages_and_another_users_is_not_found(
    service, people
) -> None:
    partner = new_id()
    alice, bob = user(partner), user(partner)
    people[("lead.claim", partner)] = [alice]
    deliver_event(service, "on_lead_assigned", lead_assigned(partner))
    [message] = inbox(service, alice)

    assert inbox(service, bob) == []
    with pytest.raises(NotFound):
        call(service, "mark_read", message["id"], caller=caller_of(bob))
    assert inbox(service, alice, unread=True)[0]["id"] == message["id"]


def test_unread_filter_count_mark_one_and_mark_all(service, people) -> None:
    partner = new_id()
    sales = user(partner)
    people[("lead.claim", partner)] = [sales]
    for _ in range(3):
        deliver_event(service, "on_lead_assigned", lead_assigned(partner))
    me = caller_of(sales)
    assert call(service, "count_unread", caller=me) == {"count": 3}

    first = inbox(service, sales)[0]
    read = call(service, "mark_read", first["id"], caller=me)
    assert read["read_at"] is not None
    assert call(service, "count_unread", caller=me) == {"count": 2}
    assert first["id"] not in [m["id"] for m in inbox(service, sales, unread=True)]

    assert call(service, "mark_all_read", caller=me) == {"count": 2}
    assert call(service, "count_unread", caller=me) == {"count": 0}
    assert len(inbox(service, sales)) == 3


def test_the_platform_itself_has_no_inbox(service) -> None:
    with pytest.raises(Forbidden):
        call(service, "count_unread", caller=Caller.system_caller("gateway"))


def test_an_event_without_a_partner_fails_and_writes_nothing(service, people) -> None:
    partner = new_id()
    sales = user(partner)
    people[("customer.create", partner)] = [sales]
    event = make_envelope("filing", "filing_approved", {"customer_name": "无伙伴"})
    with pytest.raises(InvalidInput) as raised:
        deliver_event(service, "on_filing_approved", event)
    assert "partner_id" in raised.value.errors
    assert inbox(service, sales) == []


# -- channels -------------------------------------------------------------------------------


def test_a_webhook_channels_secret_is_shown_once(service) -> None:
    me = caller_of(user(new_id()))
    created = webhook(service, me, format="wecom", events=["lead_assigned"])
    assert len(created["secret"]) == 64
    assert created["format"] == "wecom" and created["scope"] == "user"
    again = call(service, "get_channel", created["id"], caller=me)
    assert "secret" not in again
    listed = call(service, "list_channels", {}, caller=me)["items"]
    assert [c["id"] for c in listed] == [created["id"]]
    assert "secret" not in listed[0]


def test_partner_channels_need_channel_manage_and_a_partner(service) -> None:
    partner = new_id()
    with pytest.raises(Forbidden):
        webhook(service, caller_of(user(partner), "lead.claim"), scope="partner")
    with pytest.raises(Forbidden):
        webhook(service, caller_of(user(None), "channel.manage"), scope="partner")
    created = webhook(service, caller_of(user(partner), "channel.manage"), scope="partner")
    assert (created["scope"], created["partner_id"]) == ("partner", partner)


def test_a_user_never_sees_another_users_channel_or_its_delivery_log(service) -> None:
    partner = new_id()
    owner, other = caller_of(user(partner)), caller_of(user(partner), "channel.manage")
    channel = webhook(service, owner)
    assert call(service, "list_channels", {}, caller=other)["items"] == []
    for method, args in (
        ("get_channel", (channel["id"],)),
        ("list_deliveries", (channel["id"], {})),
        ("update_channel", (channel["id"], {"active": False})),
        ("delete_channel", (channel["id"],)),
    ):
        with pytest.raises(NotFound):
            call(service, method, *args, caller=other)
    assert call(service, "get_channel", channel["id"], caller=owner)["active"] is True


def test_partner_admins_see_their_partners_channels_and_no_other_partners(service) -> None:
    partner, rival = new_id(), new_id()
    admin = caller_of(user(partner), "channel.manage")
    second_admin = caller_of(user(partner), "channel.manage")
    sales = caller_of(user(partner), "lead.claim")
    rival_admin = caller_of(user(rival), "channel.manage")
    channel = webhook(service, admin, scope="partner")

    assert call(service, "get_channel", channel["id"], caller=second_admin)["id"] == channel["id"]
    listed = call(service, "list_channels", {"scope": "partner"}, caller=second_admin)["items"]
    assert [c["id"] for c in listed] == [channel["id"]]
    for outsider in (sales, rival_admin):
        with pytest.raises(NotFound):
            call(service, "get_channel", channel["id"], caller=outsider)


def test_a_webhook_to_a_private_address_is_refused_unless_configured(service, monkeypatch) -> None:
    me = caller_of(user(new_id()))
    monkeypatch.setenv("PRM_WEBHOOK_ALLOW_PRIVATE", "false")
    for target in ("http://127.0.0.1:8080/x", "http://169.254.169.254/latest", "http://[::1]/"):
        with pytest.raises(InvalidInput) as refused:
            webhook(service, me, target=target)
        assert refused.value.code == "webhook_target_not_allowed"
        assert "target" in refused.value.errors
    monkeypatch.setenv("PRM_WEBHOOK_ALLOW_PRIVATE", "true")
    assert webhook(service, me, target="http://127.0.0.1:8080/x")["active"] is True


def test_an_email_channel_needs_smtp_to_be_configured(service, monkeypatch) -> None:
    me = caller_of(user(new_id()))
    body = {"kind": "email", "target": "sales@example.com"}
    monkeypatch.delenv("PRM_SMTP_HOST", raising=False)
    with pytest.raises(InvalidState) as refused:
        call(service, "create_channel", body, caller=me)
    assert refused.value.code == "email_not_configured"
    monkeypatch.setenv("PRM_SMTP_HOST", "smtp.example.com")
    created = call(service, "create_channel", body, caller=me)
    assert (created["kind"], created["format"], created["secret"]) == ("email", None, None)


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"kind": "webhook", "target": "ftp://example.com/x"}, "target"),
        ({"kind": "webhook", "target": "not a url"}, "target"),
        ({"kind": "email", "target": "no-at-sign"}, "target"),
        ({"kind": "email", "target": "a@example.com", "format": "json"}, "format"),
        ({"kind": "webhook", "target": "http://127.0.0.1/", "format": "slack"}, "format"),
        ({"kind": "webhook", "target": "http://127.0.0.1/", "events": ["nope"]}, "events"),
        ({"kind": "sms", "target": "13800000000"}, "kind"),
        ({"kind": "webhook", "target": "http://127.0.0.1/", "colour": "red"}, "colour"),
    ],
)
def test_a_malformed_channel_is_refused_with_the_field_named(service, body, field) -> None:
    with pytest.raises(InvalidInput) as refused:
        call(service, "create_channel", body, caller=caller_of(user(new_id())))
    assert field in refused.value.errors


# -- what gets queued for channels ----------------------------------------------------------


def test_partner_event_queues_one_delivery_for_the_partner_channel_and_each_own_channel(
    service, people, isolated
) -> None:
    partner = new_id()
    sales, admin = user(partner), user(partner)
    people[("lead.claim", partner)] = [sales, admin]
    own = webhook(service, caller_of(sales))
    shared = webhook(service, caller_of(admin, "channel.manage"), scope="partner", language="en")
    event = lead_assigned(partner, "乙公司")
    deliver_event(service, "on_lead_assigned", event)
    # redelivered: nothing more (the event after it concerns nobody here)
    redeliver_event(service, "on_lead_assigned", event, then=lead_assigned(new_id()))

    [to_own] = deliveries(isolated, own["id"])
    [to_partner] = deliveries(isolated, shared["id"])
    assert to_own.status == to_partner.status == "pending"
    assert to_own.message_id == inbox(service, sales)[0]["id"]
    assert to_own.payload["title"] == "新线索待申领：乙公司"
    assert to_partner.payload["title"] == "New lead to claim: 乙公司"
    assert to_partner.payload["data"]["partner_id"] == partner
    service.wake.assert_called()


def test_a_channel_subscribed_to_some_events_gets_only_those(service, people, isolated) -> None:
    partner = new_id()
    sales = user(partner)
    people[("lead.claim", partner)] = [sales]
    people[("customer.create", partner)] = [sales]
    channel = webhook(service, caller_of(sales), events=["filing_approved"])
    deliver_event(service, "on_lead_assigned", lead_assigned(partner))
    assert deliveries(isolated, channel["id"]) == []
    approved = make_envelope(
        "filing",
        "filing_approved",
        customer(customer_id=1, customer_name="丙公司", partner_id=partner, filing_id=1),
    )
    deliver_event(service, "on_filing_approved", approved)
    assert [d.event for d in deliveries(isolated, channel["id"])] == ["filing_approved"]
    assert len(inbox(service, sales)) == 2  # the inbox gets everything


def test_an_approval_step_goes_to_hq_approvers_and_not_to_partner_channels(
    service, people, isolated
) -> None:
    partner = new_id()
    approver, bystander = user(None), user(None)
    people[("filing.approve", None)] = [approver]
    partner_channel = webhook(service, caller_of(user(partner), "channel.manage"), scope="partner")
    event = make_envelope(
        "filing",
        "filing_submitted",
        customer(
            customer_id=5,
            customer_name="丁公司",
            partner_id=partner,
            status="pending",
            protected_until=None,
            filing_id=77,
            step={
                "name": "渠道经理审批",
                "permission": "filing.approve",
                "mode": "any",
                "approvers": [],
                "condition": None,
            },
        ),
    )
    deliver_event(service, "on_filing_submitted", event)
    [message] = inbox(service, approver)
    assert message["title"] == "客户报备待审批：丁公司"
    assert (message["subject_type"], message["subject_id"]) == ("filing", 77)
    assert inbox(service, bystander) == []
    assert deliveries(isolated, partner_channel["id"]) == []


def test_switching_a_channel_off_drops_its_queue_and_on_again_starts_afresh(
    service, people, isolated
) -> None:
    partner = new_id()
    sales = user(partner)
    me = caller_of(sales)
    people[("lead.claim", partner)] = [sales]
    channel = webhook(service, me)
    deliver_event(service, "on_lead_assigned", lead_assigned(partner))

    off = call(service, "update_channel", channel["id"], {"active": False}, caller=me)
    assert off["active"] is False
    [dropped] = deliveries(isolated, channel["id"])
    assert dropped.status == "cancelled"
    log = call(service, "list_deliveries", channel["id"], {}, caller=me)
    assert [(d["event"], d["status"]) for d in log["items"]] == [("lead_assigned", "cancelled")]

    deliver_event(service, "on_lead_assigned", lead_assigned(partner))
    assert len(deliveries(isolated, channel["id"])) == 1  # nothing queued while off
    on = call(service, "update_channel", channel["id"], {"active": True}, caller=me)
    assert (on["active"], on["consecutive_failures"], on["disabled_reason"]) == (True, 0, None)

    call(service, "delete_channel", channel["id"], caller=me)
    with pytest.raises(NotFound):
        call(service, "get_channel", channel["id"], caller=me)
    assert deliveries(isolated, channel["id"]) == []


def test_a_channel_whose_secrets_cannot_be_opened_holds_back_neither_inbox_nor_delete(
    service, people, isolated
) -> None:
    partner = new_id()
    sales = user(partner)
    people[("lead.claim", partner)] = [sales]
    channel = webhook(service, caller_of(sales))
    with Session(isolated.engine) as session:  # as if PRM_SECRETS_KEY had lost its key
        foreign = sealing.seal("http://127.0.0.1:9/hook", keys=("never-this-stack-s-key" * 2,))
        session.execute(
            text("UPDATE channels SET target = :t WHERE id = :id"),
            {"t": foreign, "id": channel["id"]},
        )
        session.commit()

    deliver_event(service, "on_lead_assigned", lead_assigned(partner))
    assert [m["kind"] for m in inbox(service, sales)] == ["lead_assigned"]
    assert [d.status for d in deliveries(isolated, channel["id"])] == ["pending"]
    # (through RPC, the gateway's 503: tests/e2e/test_notifications.py)
    with pytest.raises(sealing.SealedValueUnreadable):
        call(service, "get_channel", channel["id"], caller=caller_of(sales))
    call(service, "delete_channel", channel["id"], caller=caller_of(sales))
    with pytest.raises(NotFound):
        call(service, "get_channel", channel["id"], caller=caller_of(sales))


def several_leads(kind: str, partner_id: int, count: int = 3, **extra: Any) -> dict:
    """A filing envelope telling the partner of ``count`` leads at once (``leads_assigned``
    with an import's ``import_id``, ``lead_claim_deadlines_near``)."""
    ids = [new_id() for _ in range(count)]
    data = {
        "partner_id": partner_id,
        "count": count,
        "lead_ids": ids,
        "lead_id": ids[0],
        "lead_name": "甲公司",
        "claim_deadline": "2026-05-04T08:30:00Z",
    }
    return make_envelope("filing", kind, data | extra)


def test_an_imports_leads_are_one_message_per_batch_and_reach_channels_taking_lead_assigned(
    service, people, isolated
) -> None:
    partner = new_id()
    zh, en = user(partner), user(partner, "en")
    people[("lead.claim", partner)] = [zh, en]
    takes_leads = webhook(service, caller_of(zh), events=["lead_assigned"])
    takes_filings = webhook(service, caller_of(zh), events=["filing_approved"])
    shared = webhook(service, caller_of(en, "channel.manage"), scope="partner", language="en")
    event = several_leads("leads_assigned", partner, count=12, import_id="imp-secret-key")
    deliver_event(service, "on_leads_assigned", event)

    [mine] = inbox(service, zh)
    assert (mine["kind"], mine["subject_type"], mine["subject_id"]) == (
        "leads_assigned",
        "lead",
        event["data"]["lead_id"],
    )
    assert mine["title"] == "新线索待申领：甲公司 等 12 条"
    assert [m["title"] for m in inbox(service, en)] == ["12 new leads to claim, the first 甲公司"]
    [delivery] = deliveries(isolated, takes_leads["id"])
    assert delivery.event == "leads_assigned"
    assert delivery.payload["data"]["lead_ids"] == event["data"]["lead_ids"]
    assert "import_id" not in delivery.payload["data"]  # nothing of HQ's own request
    assert deliveries(isolated, takes_filings["id"]) == []
    [to_partner] = deliveries(isolated, shared["id"])
    assert to_partner.payload["data"]["count"] == 12


def test_several_claim_deadlines_near_are_one_message_and_reach_channels_taking_one(
    service, people, isolated
) -> None:
    partner = new_id()
    zh, en = user(partner), user(partner, "en")
    people[("lead.claim", partner)] = [zh, en]
    takes_deadlines = webhook(service, caller_of(zh), events=["lead_claim_deadline_near"])
    takes_assigned = webhook(service, caller_of(zh), events=["lead_assigned"])
    event = several_leads("lead_claim_deadlines_near", partner, count=40)
    ids = event["data"]["lead_ids"]
    deliver_event(service, "on_lead_claim_deadlines_near", event)

    [mine] = inbox(service, zh)
    assert (mine["kind"], mine["subject_type"], mine["subject_id"]) == (
        "lead_claim_deadlines_near",
        "lead",
        ids[0],
    )
    assert mine["title"] == "线索申领即将截止：甲公司 等 40 条"
    assert [m["title"] for m in inbox(service, en)] == [
        "40 leads' claim deadlines near, the first 甲公司"
    ]
    [delivery] = deliveries(isolated, takes_deadlines["id"])
    assert delivery.payload["data"]["lead_ids"] == ids
    assert deliveries(isolated, takes_assigned["id"]) == []
