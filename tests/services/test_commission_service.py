"""The commission service on its own, on PostgreSQL and RabbitMQ: the orders events are
published as the orders service would (outbox envelope, ``orders.events``), the partners
service is replaced by a fake, and RPCs go through Nameko's ``entrypoint_hook``.

The service runs in a vhost of this module's own, so that no other commission process of
the test run (the e2e stack) takes its events.
"""

# The fixtures come from tests.support.commission_service; pytest passes them by name.
# ruff: noqa: F811

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal

import pytest
from nameko.testing.services import entrypoint_hook
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from services.commission.models import CommissionEntry, LockedEntry, PartnerCopy
from services.commission.rules import period_of
from services.common.errors import (
    Conflict,
    Forbidden,
    InvalidInput,
    InvalidState,
    NotFound,
)
from services.common.models import OutboxEvent
from services.common.outbox import make_envelope
from services.common.timeutil import utcnow
from tests.support import infra
from tests.support.commission_service import (  # noqa: F401 - fixtures
    HQ,
    FakePartners,
    call,
    config,
    database_url,
    engine,
    new_id,
    orders,
    partner_caller,
    partners,
    service,
    settled_month,
    vhost_uri,
    wait_for,
)


def entries_of(engine, order_id: int) -> list[CommissionEntry]:
    with Session(engine) as session:
        return list(
            session.scalars(
                select(CommissionEntry)
                .where(CommissionEntry.order_id == order_id)
                .order_by(CommissionEntry.id)
            )
        )


def override(service, partner_id: int, self_sourced: str, hq: str, since: str) -> dict:
    return call(
        service,
        "put_rate",
        {
            "partner_id": partner_id,
            "self_sourced_rate": self_sourced,
            "hq_assigned_rate": hq,
            "effective_from": since,
        },
    )


# -- entries from approved orders -------------------------------------------------------


def test_same_approved_event_delivered_three_times_writes_one_entry(
    service, partners, orders, engine
) -> None:
    event = orders.approved(partners.add())
    for _ in range(3):
        orders.publish(event)
    # The orders service re-emitting the approval (a new event id) changes nothing either.
    orders.publish(make_envelope("orders", "order_approved", event["data"]))
    assert len(entries_of(engine, event["data"]["order_id"])) == 1


def test_partner_with_override_gets_self_sourced_and_hq_rates_by_customer_source(
    service, partners, orders, engine
) -> None:
    partner_id = partners.add()
    override(service, partner_id, "0.08", "0.03", "2026-01-01")
    own = orders.publish(orders.approved(partner_id, customer_source="partner"))
    lead = orders.publish(orders.approved(partner_id, customer_source="hq"))
    [own_entry] = entries_of(engine, own["data"]["order_id"])
    [lead_entry] = entries_of(engine, lead["data"]["order_id"])
    assert (own_entry.rate, own_entry.amount) == (Decimal("0.08"), Decimal("8000.00"))
    assert (lead_entry.rate, lead_entry.amount) == (Decimal("0.03"), Decimal("3000.00"))
    assert own_entry.period == "2026-11"


def test_commission_of_33333_33_at_3_percent_is_1000_00(service, partners, orders, engine) -> None:
    partner_id = partners.add()
    override(service, partner_id, "0.08", "0.03", "2026-01-01")
    event = orders.publish(
        orders.approved(partner_id, customer_source="hq", total_amount="33333.33")
    )
    [entry] = entries_of(engine, event["data"]["order_id"])
    assert entry.contract_amount == Decimal("33333.33")
    assert entry.amount == Decimal("1000.00")


def test_partner_without_override_gets_its_partner_types_seeded_rates(
    service, partners, orders, engine
) -> None:
    partner_id = partners.add("provincial_agent")
    own = orders.publish(orders.approved(partner_id, total_amount="12345.67"))
    lead = orders.publish(orders.approved(partner_id, customer_source="hq"))
    [own_entry] = entries_of(engine, own["data"]["order_id"])
    [lead_entry] = entries_of(engine, lead["data"]["order_id"])
    assert (own_entry.rate, own_entry.amount) == (Decimal("0.10"), Decimal("1234.57"))
    assert (lead_entry.rate, lead_entry.amount) == (Decimal("0.05"), Decimal("5000.00"))
    assert own_entry.partner_type == "provincial_agent"


def test_rate_change_after_approval_does_not_change_the_entry(
    service, partners, orders, engine
) -> None:
    partner_id = partners.add()
    override(service, partner_id, "0.08", "0.03", "2026-01-01")
    first = orders.publish(orders.approved(partner_id))
    # HQ raises the rate, even back-dated to before the approval.
    override(service, partner_id, "0.20", "0.10", "2026-01-01")
    second = orders.publish(orders.approved(partner_id))
    [entry] = entries_of(engine, first["data"]["order_id"])
    assert (entry.rate, entry.amount) == (Decimal("0.08"), Decimal("8000.00"))
    assert entries_of(engine, second["data"]["order_id"])[0].amount == Decimal("20000.00")


def test_rate_and_period_follow_the_shanghai_date_of_the_approval(
    service, partners, orders, engine
) -> None:
    partner_id = partners.add()
    override(service, partner_id, "0.08", "0.03", "2026-01-01")
    override(service, partner_id, "0.09", "0.04", "2026-12-01")
    # 16:30 UTC on 30 November is 00:30 on 1 December in Shanghai.
    late = orders.publish(orders.approved(partner_id, approved_at="2026-11-30T16:30:00Z"))
    early = orders.publish(orders.approved(partner_id, approved_at="2026-11-30T15:30:00Z"))
    [late_entry] = entries_of(engine, late["data"]["order_id"])
    [early_entry] = entries_of(engine, early["data"]["order_id"])
    assert (late_entry.rate, late_entry.period) == (Decimal("0.09"), "2026-12")
    assert (early_entry.rate, early_entry.period) == (Decimal("0.08"), "2026-11")


def test_unknown_partner_is_fetched_once_from_the_partners_service(
    service, partners, orders, engine
) -> None:
    partner_id = partners.add("provincial_agent")
    orders.publish(orders.approved(partner_id))
    orders.publish(orders.approved(partner_id))
    assert partners.fetched == [partner_id]
    with Session(engine) as session:
        assert session.get(PartnerCopy, partner_id).type == "provincial_agent"


def test_entry_created_event_goes_out_through_the_outbox(service, partners, orders, engine) -> None:
    partner_id = partners.add()
    event = orders.publish(orders.approved(partner_id, customer_source="hq"))
    [entry] = entries_of(engine, event["data"]["order_id"])
    with Session(engine) as session:
        rows = [
            row
            for row in session.scalars(
                select(OutboxEvent).where(OutboxEvent.event_type == "commission_entry_created")
            )
            if row.payload["data"]["entry_id"] == entry.id
        ]
    assert [row.payload["data"] for row in rows] == [
        {
            "entry_id": entry.id,
            "order_id": event["data"]["order_id"],
            "partner_id": partner_id,
            "contract_no": event["data"]["contract_no"],
            "source": "hq",
            "contract_amount": "100000.00",
            "rate": "0.05",
            "amount": "5000.00",
            "period": "2026-11",
            "kind": "commission",
        }
    ]


# -- cancellations ----------------------------------------------------------------------


def test_cancelled_approved_order_gets_a_negative_reversal_in_its_period(
    service, partners, orders, engine
) -> None:
    approved = orders.publish(orders.approved(partners.add(), total_amount="33333.33"))
    cancelled = orders.cancelled(approved)
    orders.publish(cancelled)
    orders.publish(cancelled)  # delivered twice: still one reversal
    commission, reversal = entries_of(engine, approved["data"]["order_id"])
    assert reversal.kind == "reversal"
    assert reversal.amount == -commission.amount == Decimal("-3333.33")
    assert reversal.contract_amount == Decimal("-33333.33")
    assert reversal.period == commission.period == "2026-11"


def test_order_cancelled_before_approval_has_no_commission(
    service, partners, orders, engine
) -> None:
    approved = orders.approved(partners.add())  # never delivered: it was not approved
    orders.publish(orders.cancelled(approved, was_approved=False))
    assert entries_of(engine, approved["data"]["order_id"]) == []


def test_cancellation_arriving_before_the_approval_still_ends_with_entry_and_reversal(
    service, partners, orders, engine
) -> None:
    approved = orders.approved(partners.add(), total_amount="5000.00")
    orders.publish(orders.cancelled(approved))
    orders.publish(approved)
    entries = entries_of(engine, approved["data"]["order_id"])
    assert [(e.kind, e.amount) for e in entries] == [
        ("commission", Decimal("500.00")),
        ("reversal", Decimal("-500.00")),
    ]


def test_reversal_of_an_entry_on_a_statement_goes_to_the_current_period(
    service, partners, orders, engine
) -> None:
    partner_id = partners.add()
    approved = orders.publish(orders.approved(partner_id, approved_at="2025-03-10T02:00:00Z"))
    statement = call(service, "issue_statement", {"partner_id": partner_id, "period": "2025-03"})
    orders.publish(orders.cancelled(approved))
    commission, reversal = entries_of(engine, approved["data"]["order_id"])
    assert commission.statement_id == statement["id"]
    assert reversal.period == period_of(utcnow())
    assert reversal.statement_id is None
    assert call(service, "get_statement", statement["id"])["total_amount"] == "10000.00"


# -- rates ------------------------------------------------------------------------------


def test_rates_are_seeded_for_both_partner_types(service) -> None:
    page = call(service, "list_rates", {"per_page": 100})
    seeded = {
        rule["partner_type"]: (rule["self_sourced_rate"], rule["hq_assigned_rate"])
        for rule in page["items"]
        if rule["partner_type"] and rule["effective_from"] == "2000-01-01"
    }
    assert seeded == {"city_partner": ("0.10", "0.05"), "provincial_agent": ("0.10", "0.05")}


def test_rate_in_force_says_whether_override_or_partner_type_applies(service, partners) -> None:
    partner_id = partners.add()
    override(service, partner_id, "0.08", "0.03", "2026-06-01")
    before = call(service, "rate_in_force", {"partner_id": partner_id, "on": "2026-05-31"})
    after = call(service, "rate_in_force", {"partner_id": partner_id, "on": "2026-06-01"})
    assert (before["basis"], before["self_sourced_rate"]) == ("partner_type", "0.10")
    assert (after["basis"], after["self_sourced_rate"], after["hq_assigned_rate"]) == (
        "partner",
        "0.08",
        "0.03",
    )


def test_same_scope_and_date_replaces_the_rule(service, partners) -> None:
    partner_id = partners.add()
    first = override(service, partner_id, "0.08", "0.03", "2026-06-01")
    second = override(service, partner_id, "0.07", "0.02", "2026-06-01")
    assert second["id"] == first["id"]
    page = call(service, "list_rates", {"partner_id": partner_id})
    assert [(r["self_sourced_rate"], r["hq_assigned_rate"]) for r in page["items"]] == [
        ("0.07", "0.02")
    ]


def test_rate_for_unknown_partner_or_type_is_refused(service, partners) -> None:
    with pytest.raises(InvalidInput) as unknown_partner:
        override(service, new_id(), "0.08", "0.03", "2026-06-01")
    assert unknown_partner.value.code == "unknown_partner"
    with pytest.raises(InvalidInput) as unknown_type:
        call(
            service,
            "put_rate",
            {"partner_type": "county_partner", "self_sourced_rate": "0.1", "hq_assigned_rate": "0"},
        )
    assert unknown_type.value.code == "unknown_partner_type"


def test_rate_above_one_is_invalid_input(service, partners) -> None:
    with pytest.raises(InvalidInput) as refused:
        override(service, partners.add(), "1.01", "0.03", "2026-06-01")
    assert "self_sourced_rate" in refused.value.errors


def test_partner_users_cannot_read_or_set_rates(service, partners) -> None:
    partner_id = partners.add()
    caller = partner_caller(partner_id, "commission.manage")
    with pytest.raises(Forbidden):
        call(service, "list_rates", {}, caller=caller)
    with pytest.raises(Forbidden):
        call(
            service,
            "put_rate",
            {"partner_id": partner_id, "self_sourced_rate": "1", "hq_assigned_rate": "1"},
            caller=caller,
        )


# -- statements -------------------------------------------------------------------------


def test_statement_lifecycle_issued_confirmed_paid(service, partners, orders, engine) -> None:
    partner_id = settled_month(service, partners, orders, ["100000.00", "33333.33"])
    issued = call(service, "issue_statement", {"partner_id": partner_id, "period": "2025-06"})
    assert (issued["status"], issued["total_amount"], issued["entry_count"]) == (
        "issued",
        "13333.33",
        2,
    )
    partner = partner_caller(partner_id)
    confirmed = call(service, "confirm_statement", issued["id"], caller=partner)
    assert confirmed["status"] == "confirmed"
    paid = call(service, "pay_statement", issued["id"], {"payment_ref": "BANK-001"})
    assert (paid["status"], paid["payment_ref"]) == ("paid", "BANK-001")
    with Session(engine) as session:
        types = [
            row.event_type
            for row in session.scalars(select(OutboxEvent).order_by(OutboxEvent.id))
            if row.payload["data"].get("statement_id") == issued["id"]
        ]
        (paid_event,) = [
            row
            for row in session.scalars(
                select(OutboxEvent).where(OutboxEvent.event_type == "statement_paid")
            )
            if row.payload["data"]["statement_id"] == issued["id"]
        ]
    assert types == ["statement_issued", "statement_confirmed", "statement_paid"]
    assert paid_event.payload["data"] == {
        "statement_id": issued["id"],
        "partner_id": partner_id,
        "period": "2025-06",
        "total_amount": "13333.33",
        "entry_count": 2,
        "payment_ref": "BANK-001",
    }


def test_every_wrong_statement_transition_is_invalid_state(service, partners, orders) -> None:
    partner_id = settled_month(service, partners, orders, ["1000.00"])
    statement = call(service, "issue_statement", {"partner_id": partner_id, "period": "2025-06"})
    partner = partner_caller(partner_id)
    with pytest.raises(InvalidState):
        call(service, "pay_statement", statement["id"], {"payment_ref": "X"})  # not confirmed
    call(service, "confirm_statement", statement["id"], caller=partner)
    with pytest.raises(InvalidState):
        call(service, "confirm_statement", statement["id"], caller=partner)
    call(service, "pay_statement", statement["id"], {"payment_ref": "BANK-002"})
    with pytest.raises(InvalidState):
        call(service, "pay_statement", statement["id"], {"payment_ref": "BANK-003"})
    with pytest.raises(InvalidState):
        call(service, "confirm_statement", statement["id"], caller=partner)
    assert call(service, "get_statement", statement["id"])["payment_ref"] == "BANK-002"


def test_entries_on_a_statement_are_settled_once(service, partners, orders, engine) -> None:
    partner_id = settled_month(service, partners, orders, ["1000.00", "2000.00"])
    first = call(service, "issue_statement", {"partner_id": partner_id, "period": "2025-06"})
    with pytest.raises(Conflict) as again:
        call(service, "issue_statement", {"partner_id": partner_id, "period": "2025-06"})
    assert again.value.code == "nothing_to_settle"
    # An approval of that month arriving late goes on a further statement, alone.
    orders.publish(
        orders.approved(partner_id, total_amount="500.00", approved_at="2025-06-30T02:00:00Z")
    )
    late = call(service, "issue_statement", {"partner_id": partner_id, "period": "2025-06"})
    assert (first["entry_count"], late["entry_count"], late["total_amount"]) == (2, 1, "50.00")


def test_entry_on_a_statement_cannot_be_changed_or_moved(service, partners, orders, engine) -> None:
    partner_id = settled_month(service, partners, orders, ["1000.00"])
    call(service, "issue_statement", {"partner_id": partner_id, "period": "2025-06"})
    with Session(engine) as session:
        entry = session.scalars(
            select(CommissionEntry).where(CommissionEntry.partner_id == partner_id)
        ).one()
        entry.amount = Decimal("1.00")
        with pytest.raises(LockedEntry):
            session.flush()
        session.rollback()
        entry = session.scalars(
            select(CommissionEntry).where(CommissionEntry.partner_id == partner_id)
        ).one()
        entry.statement_id = None
        with pytest.raises(LockedEntry):
            session.flush()


def test_statement_of_a_month_not_yet_ended_is_refused(service, partners) -> None:
    with pytest.raises(InvalidInput) as refused:
        call(
            service,
            "issue_statement",
            {"partner_id": partners.add(), "period": period_of(utcnow())},
        )
    assert refused.value.code == "period_not_ended"


def test_only_the_partner_itself_confirms_and_others_do_not_see_it(
    service, partners, orders
) -> None:
    partner_id = settled_month(service, partners, orders, ["1000.00"])
    statement = call(service, "issue_statement", {"partner_id": partner_id, "period": "2025-06"})
    stranger = partner_caller(new_id())
    with pytest.raises(NotFound):
        call(service, "confirm_statement", statement["id"], caller=stranger)
    with pytest.raises(NotFound):
        call(service, "get_statement", statement["id"], caller=stranger)
    parent = partner_caller(new_id(), also_sees=partner_id)  # sees it, but it is not theirs
    with pytest.raises(Forbidden):
        call(service, "confirm_statement", statement["id"], caller=parent)
    with pytest.raises(Forbidden):
        call(service, "confirm_statement", statement["id"])  # HQ does not confirm
    with pytest.raises(Forbidden):
        call(service, "pay_statement", statement["id"], {"payment_ref": "X"}, caller=parent)


# -- reading: scope, the order's commission, the report ---------------------------------


def test_partner_sees_only_its_own_entries(service, partners, orders) -> None:
    mine, theirs = partners.add(), partners.add()
    own = orders.publish(orders.approved(mine))
    other = orders.publish(orders.approved(theirs))
    caller = partner_caller(mine)
    page = call(service, "list_entries", {"per_page": 100}, caller=caller)
    assert {item["partner_id"] for item in page["items"]} == {mine}
    other_entry = call(service, "list_entries", {"order_id": other["data"]["order_id"]})
    with pytest.raises(NotFound):
        call(service, "get_entry", other_entry["items"][0]["id"], caller=caller)
    assert call(service, "order_commission", other["data"]["order_id"], caller=caller) is None
    assert call(service, "order_commission", own["data"]["order_id"], caller=caller) == {
        "rate": "0.10",
        "amount": "10000.00",
        "basis": "approval",
        "accrued": "10000.00",
    }


def test_report_groups_by_partner_period_and_source_with_totals(service, partners, orders) -> None:
    partner_id = partners.add()
    override(service, partner_id, "0.08", "0.03", "2026-01-01")
    for at, source, amount in [
        ("2026-09-05T02:00:00Z", "partner", "100000.00"),
        ("2026-09-20T02:00:00Z", "partner", "50000.00"),
        ("2026-09-21T02:00:00Z", "hq", "33333.33"),
        ("2026-10-02T02:00:00Z", "hq", "100000.00"),
    ]:
        orders.publish(
            orders.approved(partner_id, approved_at=at, customer_source=source, total_amount=amount)
        )
    cancelled = orders.publish(orders.approved(partner_id, approved_at="2026-10-03T02:00:00Z"))
    orders.publish(orders.cancelled(cancelled))
    report = call(
        service,
        "commission_report",
        {"group_by": "partner,period,source", "from": "2026-09", "to": "2026-10"},
        caller=partner_caller(partner_id),
    )
    columns = ("partner_id", "period", "source", "contract_amount", "commission_amount")
    rows = [tuple(r[c] for c in (*columns, "entry_count")) for r in report["rows"]]
    assert rows == [
        (partner_id, "2026-09", "hq", "33333.33", "1000.00", 1),
        (partner_id, "2026-09", "partner", "150000.00", "12000.00", 2),
        (partner_id, "2026-10", "hq", "100000.00", "3000.00", 1),
        (partner_id, "2026-10", "partner", "0.00", "0.00", 2),  # approved, then reversed
    ]
    assert report["totals"] == {
        "contract_amount": "283333.33",
        "commission_amount": "16000.00",
        "entry_count": 6,
    }
    assert report["rows"][0]["partner_code"] == f"P{partner_id}"
    only_september = call(
        service,
        "commission_report",
        {"group_by": "source", "from": "2026-09", "to": "2026-09", "partner_id": partner_id},
    )
    assert [(r["source"], r["commission_amount"]) for r in only_september["rows"]] == [
        ("hq", "1000.00"),
        ("partner", "12000.00"),
    ]


def test_partner_report_never_includes_another_partners_rows(service, partners, orders) -> None:
    mine, theirs = partners.add(), partners.add()
    orders.publish(orders.approved(mine, approved_at="2024-02-01T02:00:00Z"))
    orders.publish(orders.approved(theirs, approved_at="2024-02-01T02:00:00Z"))
    report = call(
        service,
        "commission_report",
        {"group_by": "partner", "from": "2024-02", "to": "2024-02"},
        caller=partner_caller(mine),
    )
    assert [row["partner_id"] for row in report["rows"]] == [mine]
    asked_for_theirs = call(
        service,
        "commission_report",
        {"group_by": "partner", "partner_id": theirs},
        caller=partner_caller(mine),
    )
    assert asked_for_theirs["rows"] == []
    assert asked_for_theirs["totals"]["entry_count"] == 0


# -- the read copy of partners ----------------------------------------------------------


def test_older_partner_event_never_overwrites_a_newer_state(service, partners, engine) -> None:
    partner_id = partners.add()
    created = partners.partners[partner_id]
    updated = created | {"type": "provincial_agent", "name": "改名后"}
    old = make_envelope("partners", "partner_created", created)
    new = make_envelope("partners", "partner_updated", updated)
    old["occurred_at"] = "2026-01-01T00:00:00Z"
    new["occurred_at"] = "2026-01-01T00:00:01Z"
    with entrypoint_hook(service, "on_partner_updated") as hook:
        hook(new)
    with entrypoint_hook(service, "on_partner_created") as hook:
        hook(old)  # arrives late, on its own queue
    with Session(engine) as session:
        copy = session.get(PartnerCopy, partner_id)
        assert (copy.type, copy.name) == ("provincial_agent", "改名后")
        assert copy.as_of == datetime(2026, 1, 1, 0, 0, 1, tzinfo=UTC)


def test_partner_copy_follows_suspension_activation_and_termination_newest_first(
    service, partners, engine
) -> None:
    partner_id = partners.add()
    state = partners.partners[partner_id]

    def deliver(kind: str, status: str, at: str) -> None:
        event = make_envelope("partners", kind, state | {"status": status})
        event["occurred_at"] = at
        with entrypoint_hook(service, f"on_{kind}") as hook:
            hook(event)

    def kept() -> str:
        with Session(engine) as session:
            return session.get(PartnerCopy, partner_id).status

    deliver("partner_created", "active", "2026-01-01T00:00:00Z")
    deliver("partner_suspended", "suspended", "2026-01-01T00:00:02Z")
    assert kept() == "suspended"
    deliver("partner_updated", "active", "2026-01-01T00:00:01Z")  # older, arrives late
    assert kept() == "suspended"
    deliver("partner_activated", "active", "2026-01-01T00:00:03Z")
    assert kept() == "active"
    deliver("partner_terminated", "terminated", "2026-01-01T00:00:04Z")
    assert kept() == "terminated"


def test_partner_event_without_its_time_is_refused_not_dated_now(service, partners, engine) -> None:
    partner_id = partners.add()
    event = make_envelope("partners", "partner_created", partners.partners[partner_id])
    del event["occurred_at"]
    with pytest.raises(InvalidInput), entrypoint_hook(service, "on_partner_created") as hook:
        hook(event)
    with Session(engine) as session:
        assert session.get(PartnerCopy, partner_id) is None


def test_approval_of_a_partner_nobody_knows_is_parked_not_lost(
    service, orders, engine, config
) -> None:
    event = orders.publish(orders.approved(new_id()), wait=False)
    infra.parked_message(config["AMQP_URI"], event["id"])
    with Session(engine) as session:
        count = session.scalar(
            select(func.count())
            .select_from(CommissionEntry)
            .where(CommissionEntry.order_id == event["data"]["order_id"])
        )
    assert count == 0
