"""The commission service's entry points: rates by customer source, one entry per approved
order (or, on basis collection, per receipt and refund), reports and statements. It lives
on the orders service's events, and keeps a copy of the partners it pays from the partners
service's events.

Each entry point loads its input and calls one use case (``rates``, ``entries``,
``collection``, ``statements``, ``reports``, ``partner_copy``) with the worker's unit of
work.
"""

from __future__ import annotations

from services.commission import collection, entries, partner_copy, rates, reports, statements
from services.commission.schemas import (
    EntryListArgs,
    PayIn,
    RateIn,
    RateInForceArgs,
    RateListArgs,
    ReportArgs,
    ReportExportArgs,
    StatementIn,
    StatementListArgs,
)
from services.common.entrypoints import event_handler, rpc
from services.common.events import load_event, occurred_at
from services.common.rpc import ServiceRpc
from services.common.schemas import load, load_id
from services.common.service import ServiceBase
from services.common.timeutil import utcnow
from services.orders import events as orders_events
from services.partners import events as partners_events


class CommissionService(ServiceBase):
    name = "commission"

    partners = ServiceRpc("partners")

    # -- rates --------------------------------------------------------------------------

    @rpc
    def list_rates(self, query: dict) -> dict:
        """Rate rules, a page of them (HQ ``commission.manage``)."""
        return rates.list_rates(self.uow, self.caller, load(RateListArgs, query))

    @rpc
    def put_rate(self, payload: dict) -> dict:
        """Set a partner type's or a partner's rates from a date; entries keep theirs."""
        return rates.put_rate(
            self.uow,
            self.caller,
            load(RateIn, payload),
            utcnow(),
            self.partners.list_partner_types,
            self.partners.get_partner,
        )

    @rpc
    def rate_in_force(self, query: dict) -> dict:
        """The rates that apply to a partner on a day (today by default)."""
        data = load(RateInForceArgs, query)
        return rates.rate_in_force(
            self.uow,
            self.caller,
            data["partner_id"],
            data["on"],
            utcnow(),
            self.partners.get_partner,
        )

    # -- entries and report -------------------------------------------------------------

    @rpc
    def list_entries(self, query: dict) -> dict:
        """Entries in the caller's scope, newest first, a page of them."""
        return entries.list_entries(self.uow, self.caller, load(EntryListArgs, query))

    @rpc
    def handover_counts(self, partner_id: int) -> dict:
        """A partner's entries on no paid statement, and their sum (HQ ``partner.manage``:
        the partners service asks for a partner's handover)."""
        return entries.handover_counts(self.uow, self.caller, load_id(partner_id, "partner_id"))

    @rpc
    def get_entry(self, entry_id: int) -> dict:
        """One entry; NotFound outside the caller's scope."""
        return entries.get_entry(self.uow, self.caller, load_id(entry_id))

    @rpc
    def order_commission(self, order_id: int) -> dict | None:
        """``{rate, amount}`` of the order's commission entry, if written and in the
        caller's scope; else None."""
        return entries.order_commission(self.uow, self.caller, load_id(order_id, "order_id"))

    @rpc
    def commission_report(self, query: dict) -> dict:
        """Amounts and counts by partner, period and source, with totals (``report.read``)."""
        return reports.commission_report(self.uow, self.caller, load(ReportArgs, query))

    @rpc
    def export_commission_report(self, query: dict) -> dict:
        """The commission report as a CSV or XLSX file, base64-encoded."""
        args = load(ReportExportArgs, query)
        return reports.export_commission_report(self.uow, self.caller, args)

    # -- statements ---------------------------------------------------------------------

    @rpc
    def list_statements(self, query: dict) -> dict:
        """Statements in the caller's scope, newest first, a page of them."""
        return statements.list_statements(self.uow, self.caller, load(StatementListArgs, query))

    @rpc
    def get_statement(self, statement_id: int) -> dict:
        """One statement; NotFound outside the caller's scope."""
        return statements.get_statement(self.uow, self.caller, load_id(statement_id))

    @rpc(idempotent=True)
    def issue_statement(self, payload: dict) -> dict:
        """HQ settles a partner's unsettled entries of an ended period."""
        data = load(StatementIn, payload)
        return statements.issue_statement(self.uow, self.caller, data, utcnow())

    @rpc(idempotent=True)
    def confirm_statement(self, statement_id: int) -> dict:
        """The partner confirms its issued statement."""
        return statements.confirm_statement(self.uow, self.caller, load_id(statement_id), utcnow())

    @rpc(idempotent=True)
    def pay_statement(self, statement_id: int, payload: dict) -> dict:
        """HQ marks a confirmed statement paid, with the payment's reference."""
        payment_ref = load(PayIn, payload)["payment_ref"]
        return statements.pay_statement(
            self.uow, self.caller, load_id(statement_id), payment_ref, utcnow()
        )

    # -- events -------------------------------------------------------------------------

    @event_handler("orders", "order_approved")
    def on_order_approved(self, event: dict) -> None:
        """One commission entry per approved order, at the rate in force at approval."""
        order = load_event(orders_events.OrderApproved, event)
        entries.record_approval(self.uow, order, self.partners.get_partner, utcnow())

    @event_handler("orders", "order_cancelled")
    def on_order_cancelled(self, event: dict) -> None:
        """A cancelled approved order's commission is reversed."""
        order = load_event(orders_events.OrderCancelled, event)
        entries.record_cancellation(self.uow, order, self.partners.get_partner, utcnow())

    @event_handler("orders", "payment_recorded")
    def on_payment_recorded(self, event: dict) -> None:
        """A receipt accrues commission on an order of basis collection, once."""
        payment = load_event(orders_events.PaymentRecorded, event)
        collection.record_payment(self.uow, payment)

    @event_handler("orders", "payment_refunded")
    def on_payment_refunded(self, event: dict) -> None:
        """A refund reverses its share of an order's commission on collection, once."""
        payment = load_event(orders_events.PaymentRefunded, event)
        collection.record_payment(self.uow, payment)

    @event_handler("partners", "partner_created")
    def on_partner_created(self, event: dict) -> None:
        """Keep the new partner's type, code, name and status."""
        partner = load_event(partners_events.PartnerChanged, event)
        partner_copy.keep_partner(self.uow, partner, occurred_at(event))

    @event_handler("partners", "partner_updated")
    def on_partner_updated(self, event: dict) -> None:
        """Keep the partner's new state, unless a newer one is kept already."""
        partner = load_event(partners_events.PartnerChanged, event)
        partner_copy.keep_partner(self.uow, partner, occurred_at(event))

    @event_handler("partners", "partner_suspended")
    def on_partner_suspended(self, event: dict) -> None:
        """Keep the partner's suspension, unless a newer state is kept already."""
        partner = load_event(partners_events.PartnerChanged, event)
        partner_copy.keep_partner(self.uow, partner, occurred_at(event))

    @event_handler("partners", "partner_activated")
    def on_partner_activated(self, event: dict) -> None:
        """Keep the partner's activation, unless a newer state is kept already."""
        partner = load_event(partners_events.PartnerChanged, event)
        partner_copy.keep_partner(self.uow, partner, occurred_at(event))

    @event_handler("partners", "partner_terminated")
    def on_partner_terminated(self, event: dict) -> None:
        """Keep the partner's termination, unless a newer state is kept already."""
        partner = load_event(partners_events.PartnerChanged, event)
        partner_copy.keep_partner(self.uow, partner, occurred_at(event))
