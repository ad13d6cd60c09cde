"""What the commission service records in the audit log, in the transaction of the
action: a rate set (with the rates it replaced), a statement paid, a report exported.

The records are ``audit_recorded`` events in commission's outbox (partners keeps them:
``test_audit_log.py``)."""

# The fixtures come from tests.support.commission_service; pytest passes them by name.
# ruff: noqa: F811

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.orm import Session

from services.common.models import OutboxEvent
from tests.support.commission_service import (  # noqa: F401 - fixtures
    HQ,
    call,
    config,
    database_url,
    engine,
    orders,
    partner_caller,
    partners,
    service,
    settled_month,
    vhost_uri,
)


def recorded(engine, action: str) -> list[dict]:
    """The data of the audit records of ``action`` in commission's outbox, oldest first."""
    with Session(engine) as session:
        rows = session.scalars(
            select(OutboxEvent)
            .where(OutboxEvent.event_type == "audit_recorded")
            .order_by(OutboxEvent.id)
        ).all()
    return [row.payload["data"] for row in rows if row.payload["data"]["action"] == action]


def test_setting_a_rate_is_recorded_with_the_rates_it_replaced(service, partners, engine) -> None:
    partner_id = partners.add()
    rate = {
        "partner_id": partner_id,
        "self_sourced_rate": "0.07",
        "hq_assigned_rate": "0.03",
        "effective_from": "2026-03-01",
    }
    first = call(service, "put_rate", rate)
    call(service, "put_rate", rate | {"self_sourced_rate": "0.075"})

    mine = [r for r in recorded(engine, "rate_changed") if r["subject_id"] == str(first["id"])]
    assert [r["detail"] for r in mine] == [
        {
            "partner_type": None,
            "partner_id": partner_id,
            "effective_from": "2026-03-01",
            "self_sourced_rate": "0.07",
            "hq_assigned_rate": "0.03",
            "before_self_sourced_rate": None,
            "before_hq_assigned_rate": None,
        },
        {
            "partner_type": None,
            "partner_id": partner_id,
            "effective_from": "2026-03-01",
            "self_sourced_rate": "0.075",
            "hq_assigned_rate": "0.03",
            "before_self_sourced_rate": "0.07",
            "before_hq_assigned_rate": "0.03",
        },
    ]
    assert {(r["actor_id"], r["subject_type"]) for r in mine} == {(HQ.user_id, "rate_rule")}


def test_paying_a_statement_and_exporting_the_report_are_recorded(
    service, partners, orders, engine
) -> None:
    partner_id = settled_month(service, partners, orders, ["1000.00"], period="2025-04")
    issued = call(service, "issue_statement", {"partner_id": partner_id, "period": "2025-04"})
    call(service, "confirm_statement", issued["id"], caller=partner_caller(partner_id))
    call(service, "pay_statement", issued["id"], {"payment_ref": "BANK-AUDIT-1"})

    paid = [r for r in recorded(engine, "statement_paid") if r["subject_id"] == str(issued["id"])]
    assert [r["detail"] for r in paid] == [
        {
            "partner_id": partner_id,
            "period": "2025-04",
            "total_amount": issued["total_amount"],
            "payment_ref": "BANK-AUDIT-1",
        }
    ]

    viewer = partner_caller(partner_id, "report.read")
    query = {"group_by": "partner,period", "from": "2025-04", "format": "csv", "source": "partner"}
    call(service, "export_commission_report", query, caller=viewer)
    exported = recorded(engine, "report_exported")[-1]
    assert (exported["actor_partner_id"], exported["subject_id"]) == (partner_id, "commissions")
    assert exported["detail"] == {
        "format": "csv",
        "group_by": "partner,period",
        "from": "2025-04",
        "to": None,
        "partner_id": None,
        "source": "partner",
        "rows": 1,
    }
    # Reading the report as JSON records nothing.
    before = len(recorded(engine, "report_exported"))
    call(service, "commission_report", {"group_by": "partner"}, caller=viewer)
    assert len(recorded(engine, "report_exported")) == before
