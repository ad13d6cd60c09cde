"""The filing service: customers filed by partners, their protection, and HQ leads."""

from __future__ import annotations

import logging

from services.common.config import get_settings
from services.common.db import try_advisory_lock
from services.common.entrypoints import event_handler, rpc, timer
from services.common.rpc import ServiceRpc
from services.common.schemas import DecisionIn, FlowIn, RejectIn, load, load_id
from services.common.service import ServiceBase
from services.common.timeutil import utcnow
from services.filing import domain, leads
from services.filing.schemas import (
    CustomerCheckIn,
    CustomerFileIn,
    CustomerListArgs,
    DeclineIn,
    FilingListArgs,
    LeadImportIn,
    LeadIn,
    LeadListArgs,
    TransferIn,
)

log = logging.getLogger(__name__)


class FilingService(ServiceBase):
    name = "filing"

    partners = ServiceRpc("partners")

    def _assigner(self) -> leads.Assigner:
        return leads.Assigner(self.db, self.partners.partners_covering, self.partners.partner_terms)

    # -- customers and filings ----------------------------------------------------------

    @rpc
    def check_customer(self, payload: dict) -> dict:
        """Would this customer conflict with one filed by another partner? (yes/no only)"""
        return domain.check_conflict(self.db, self.caller, load(CustomerCheckIn, payload))

    @rpc(idempotent=True)
    def file_customer(self, payload: dict) -> dict:
        data = load(CustomerFileIn, payload)
        self.caller.require("customer.create")
        covering = self.partners.partners_covering(data["region_code"])
        return domain.file_customer(self.db, self.caller, data, covering, self.emit)

    @rpc
    def list_customers(self, query: dict) -> dict:
        return domain.list_customers(self.db, self.caller, load(CustomerListArgs, query))

    @rpc
    def get_customer(self, customer_id: int) -> dict:
        return domain.get_customer(self.db, self.caller, load_id(customer_id))

    @rpc
    def owned_customer(self, customer_id: int) -> dict:
        """The customer if it is protected for the caller's partner; else customer_not_owned."""
        return domain.owned_customer(self.db, self.caller, load_id(customer_id, "customer_id"))

    @rpc(idempotent=True)
    def transfer_customer(self, customer_id: int, payload: dict) -> dict:
        data = load(TransferIn, payload)
        self.caller.require_hq("customer.transfer")
        customer = domain.get_customer(self.db, self.caller, load_id(customer_id))
        covering = self.partners.partners_covering(customer["region_code"])
        return domain.transfer_customer(
            self.db, self.caller, customer["id"], data, covering, utcnow(), self.emit
        )

    @rpc
    def list_filings(self, query: dict) -> dict:
        return domain.list_filings(self.db, self.caller, load(FilingListArgs, query))

    @rpc
    def get_filing(self, filing_id: int) -> dict:
        return domain.get_filing(self.db, self.caller, load_id(filing_id))

    @rpc(idempotent=True)
    def approve_filing(self, filing_id: int, payload: dict) -> dict:
        data = load(DecisionIn, payload)
        return domain.approve_filing(
            self.db, self.caller, load_id(filing_id), data["comment"], utcnow(), self.emit
        )

    @rpc(idempotent=True)
    def reject_filing(self, filing_id: int, payload: dict) -> dict:
        data = load(RejectIn, payload)
        return domain.reject_filing(
            self.db, self.caller, load_id(filing_id), data["comment"], utcnow(), self.emit
        )

    @rpc
    def get_approval_flow(self) -> dict:
        return domain.get_flow(self.db, self.caller)

    @rpc
    def set_approval_flow(self, payload: dict) -> dict:
        return domain.set_flow(self.db, self.caller, load(FlowIn, payload)["steps"])

    # -- leads --------------------------------------------------------------------------

    @rpc(idempotent=True)
    def create_lead(self, payload: dict) -> dict:
        data = load(LeadIn, payload)
        self.caller.require_hq("lead.create")
        return leads.create_lead(
            self.db, self.caller, data, self._assigner(), self._resolve, utcnow(), self.emit
        )

    @rpc(idempotent=True)
    def import_leads(self, payload: dict) -> dict:
        """Create and route every valid row; report the others by row number."""
        rows = load(LeadImportIn, payload)["rows"]
        self.caller.require_hq("lead.create")
        return leads.import_leads(
            self.db, self.caller, rows, self._assigner(), self._resolve, utcnow(), self.emit
        )

    def _resolve(self, address: str) -> dict:
        return self.partners.resolve_address({"address": address})

    @rpc
    def list_leads(self, query: dict) -> dict:
        return leads.list_leads(self.db, self.caller, load(LeadListArgs, query))

    @rpc
    def get_lead(self, lead_id: int) -> dict:
        return leads.get_lead(self.db, self.caller, load_id(lead_id))

    @rpc(idempotent=True)
    def claim_lead(self, lead_id: int) -> dict:
        return leads.claim_lead(self.db, self.caller, load_id(lead_id), utcnow(), self.emit)

    @rpc(idempotent=True)
    def decline_lead(self, lead_id: int, payload: dict) -> dict:
        data = load(DeclineIn, payload)
        return leads.decline_lead(
            self.db,
            self.caller,
            load_id(lead_id),
            data["reason"],
            self._assigner(),
            utcnow(),
            self.emit,
        )

    # -- events and timers --------------------------------------------------------------

    @event_handler("orders", "order_approved")
    def on_order_approved(self, event: dict) -> None:
        """An approved order extends its customer's protection."""
        domain.extend_protection(self.db, event["data"])

    @timer(interval=get_settings().timer_interval)
    def housekeeping(self) -> None:
        """Reminders and expiries; one replica does each tick."""
        if not try_advisory_lock(self.db, "filing.housekeeping"):
            return
        now = utcnow()
        assigner = self._assigner()
        expiring = leads.claims_to_expire(self.db, assigner, now)  # asks partners: no write yet
        domain.remind_protection_ending(self.db, now, self.emit)
        domain.release_expired(self.db, now, self.emit)
        leads.remind_claim_deadlines(self.db, now, self.emit)
        leads.expire_claims(self.db, assigner, expiring, now, self.emit)
