"""The commission service: rates by customer source, one entry per approved order,
reports and statements. It lives on the orders service's events."""

from __future__ import annotations

from datetime import datetime

from services.commission import entries, exports, partner_copy, rates, reports, statements
from services.commission.models import PartnerCopy
from services.commission.periods import business_date
from services.commission.schemas import (
    EntryListArgs,
    OrderApprovedData,
    OrderCancelledData,
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
from services.common.errors import NotFound
from services.common.report_files import file_answer
from services.common.rpc import ServiceRpc
from services.common.schemas import load, load_id
from services.common.service import ServiceBase
from services.common.timeutil import as_utc, utcnow


def _occurred_at(event: dict) -> datetime:
    raw = event.get("occurred_at")
    return as_utc(datetime.fromisoformat(raw)) if isinstance(raw, str) else utcnow()


class CommissionService(ServiceBase):
    name = "commission"

    partners = ServiceRpc("partners")

    def _partner(self, partner_id: int) -> PartnerCopy:
        return partner_copy.known_partner(self.db, partner_id, self.partners.get_partner, utcnow())

    def _partner_exists(self, partner_id: int) -> bool:
        try:
            self._partner(partner_id)
        except NotFound:
            return False
        return True

    def _partner_types(self) -> list[str]:
        return [row["code"] for row in self.partners.list_partner_types()]

    # -- rates --------------------------------------------------------------------------

    @rpc
    def list_rates(self, query: dict) -> dict:
        """Rate rules, a page of them (HQ ``commission.manage``)."""
        return rates.list_rates(self.db, self.caller, load(RateListArgs, query))

    @rpc
    def put_rate(self, payload: dict) -> dict:
        """Set a partner type's or a partner's rates from a date; entries keep theirs."""
        data = load(RateIn, payload)
        self.caller.require_hq("commission.manage")
        return rates.put_rate(
            self.db, self.caller, data, utcnow(), self._partner_types, self._partner_exists
        )

    @rpc
    def rate_in_force(self, query: dict) -> dict:
        """The rates that apply to a partner on a day (today by default)."""
        data = load(RateInForceArgs, query)
        self.caller.require_hq("commission.manage")
        partner = self._partner(data["partner_id"])
        on = data["on"] or business_date(utcnow())
        return rates.describe_in_force(self.db, self.caller, partner.id, partner.type, on)

    # -- entries and report -------------------------------------------------------------

    @rpc
    def list_entries(self, query: dict) -> dict:
        """Entries in the caller's scope, newest first, a page of them."""
        return entries.list_entries(self.db, self.caller, load(EntryListArgs, query))

    @rpc
    def get_entry(self, entry_id: int) -> dict:
        """One entry; NotFound outside the caller's scope."""
        return entries.get_entry(self.db, self.caller, load_id(entry_id))

    @rpc
    def order_commission(self, order_id: int) -> dict | None:
        """``{rate, amount}`` of the order's commission entry, if written and in the
        caller's scope; else None."""
        return entries.order_commission(self.db, self.caller, load_id(order_id, "order_id"))

    @rpc
    def commission_report(self, query: dict) -> dict:
        """Amounts and counts by partner, period and source, with totals (``report.read``)."""
        return reports.commission_report(self.db, self.caller, load(ReportArgs, query))

    @rpc
    def export_commission_report(self, query: dict) -> dict:
        """The commission report as a CSV or XLSX file, base64-encoded."""
        args = load(ReportExportArgs, query)
        report = reports.commission_report(self.db, self.caller, args)
        return file_answer(exports.render(report, args["format"]))

    # -- statements ---------------------------------------------------------------------

    @rpc
    def list_statements(self, query: dict) -> dict:
        """Statements in the caller's scope, newest first, a page of them."""
        return statements.list_statements(self.db, self.caller, load(StatementListArgs, query))

    @rpc
    def get_statement(self, statement_id: int) -> dict:
        """One statement; NotFound outside the caller's scope."""
        return statements.get_statement(self.db, self.caller, load_id(statement_id))

    @rpc(idempotent=True)
    def issue_statement(self, payload: dict) -> dict:
        """HQ settles a partner's unsettled entries of an ended period."""
        return statements.issue_statement(
            self.db, self.caller, load(StatementIn, payload), utcnow(), self.emit
        )

    @rpc(idempotent=True)
    def confirm_statement(self, statement_id: int) -> dict:
        """The partner confirms its issued statement."""
        return statements.confirm_statement(
            self.db, self.caller, load_id(statement_id), utcnow(), self.emit
        )

    @rpc(idempotent=True)
    def pay_statement(self, statement_id: int, payload: dict) -> dict:
        """HQ marks a confirmed statement paid, with the payment's reference."""
        data = load(PayIn, payload)
        return statements.pay_statement(
            self.db, self.caller, load_id(statement_id), data["payment_ref"], utcnow(), self.emit
        )

    # -- events -------------------------------------------------------------------------

    @event_handler("orders", "order_approved")
    def on_order_approved(self, event: dict) -> None:
        """One commission entry per approved order, at the rate in force at approval."""
        order = load(OrderApprovedData, event["data"])
        entries.record_approval(self.db, order, self._partner(order["partner_id"]), self.emit)

    @event_handler("orders", "order_cancelled")
    def on_order_cancelled(self, event: dict) -> None:
        """A cancelled approved order's commission is reversed."""
        order = load(OrderCancelledData, event["data"])
        entries.record_cancellation(
            self.db, order, lambda: self._partner(order["partner_id"]), utcnow(), self.emit
        )

    @event_handler("partners", "partner_created")
    def on_partner_created(self, event: dict) -> None:
        """Keep the new partner's type, code and name."""
        partner_copy.apply_partner(self.db, event["data"], _occurred_at(event))

    @event_handler("partners", "partner_updated")
    def on_partner_updated(self, event: dict) -> None:
        """Keep the partner's new state, unless a newer one is kept already."""
        partner_copy.apply_partner(self.db, event["data"], _occurred_at(event))
