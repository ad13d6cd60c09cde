"""The filing service's entry points: customers filed by partners, their protection, and
HQ leads. Each loads its input and hands it to one use case (``customers``, ``leads``,
``housekeeping``) with the unit of work and the partners calls it needs."""

from __future__ import annotations

from services.common.config import get_settings
from services.common.entrypoints import event_handler, rpc, timer
from services.common.errors import InvalidInput
from services.common.events import load_event
from services.common.rpc import ServiceRpc
from services.common.schemas import DecisionIn, FlowIn, RejectIn, load, load_id
from services.common.service import ServiceBase
from services.common.timeutil import utcnow
from services.filing import (
    assignment,
    customers,
    extensions,
    follow_ups,
    handover,
    housekeeping,
    imports,
    leads,
    pool,
)
from services.filing.events import PartnerHandover
from services.filing.import_timer import ImportWaker, import_timer
from services.filing.schemas import (
    QUEUED,
    CustomerCheckIn,
    CustomerFileIn,
    CustomerListArgs,
    DeclineIn,
    ExtensionIn,
    ExtensionListArgs,
    FilingListArgs,
    FollowUpIn,
    FollowUpListArgs,
    LeadAssignIn,
    LeadImportIn,
    LeadImportListArgs,
    LeadIn,
    LeadListArgs,
    PoolListArgs,
    ReleaseIn,
    RevealIn,
    TransferIn,
)
from services.orders import events as orders_events
from services.partners import events as partners_events

#: Seconds at most between two ticks of the import timer when nobody wakes it: how soon
#: an import a stopped runner left (its lease passed) is taken over.
IMPORT_TICK = 5.0


class FilingService(ServiceBase):
    name = "filing"

    partners = ServiceRpc("partners")
    #: Makes the import timer tick at once.
    wake_imports = ImportWaker()

    # -- customers and filings ----------------------------------------------------------

    @rpc
    def check_customer(self, payload: dict) -> dict:
        """Would this customer conflict with one filed by another partner? (yes/no only)"""
        data = load(CustomerCheckIn, payload)
        return customers.check_conflict(self.uow, self.caller, data)

    @rpc(idempotent=True)
    def file_customer(self, payload: dict) -> dict:
        """A partner files a customer in its territory; it is pending approval."""
        data = load(CustomerFileIn, payload)
        return customers.file_customer(self.uow, self.caller, data, self.partners.partners_covering)

    @rpc
    def list_customers(self, query: dict) -> dict:
        """A page of the customers the caller sees."""
        args = load(CustomerListArgs, query)
        return customers.list_customers(self.uow, self.caller, args)

    @rpc
    def get_customer(self, customer_id: int) -> dict:
        """A customer the caller sees."""
        return customers.get_customer(self.uow, self.caller, load_id(customer_id))

    @rpc
    def reveal_customer(self, customer_id: int, payload: dict) -> dict:
        """The unmasked contact data of one customer the caller sees, for a reason; audited."""
        reason = load(RevealIn, payload)["reason"]
        return customers.reveal_customer(self.uow, self.caller, load_id(customer_id), reason)

    @rpc
    def owned_customer(self, customer_id: int) -> dict:
        """The customer if it is protected for the caller's partner; else customer_not_owned."""
        customer_id = load_id(customer_id, "customer_id")
        return customers.owned_customer(self.uow, self.caller, customer_id)

    @rpc(idempotent=True)
    def transfer_customer(self, customer_id: int, payload: dict) -> dict:
        """HQ moves a protected customer to another partner covering its region."""
        data = load(TransferIn, payload)
        return customers.transfer_customer(
            self.uow, self.caller, load_id(customer_id), data, self.partners.partners_covering
        )

    # -- the public pool and follow-ups -------------------------------------------------

    @rpc(idempotent=True)
    def release_customer(self, customer_id: int, payload: dict) -> dict:
        """The partner holding a protected customer gives it back to the pool."""
        reason = load(ReleaseIn, payload)["reason"]
        return pool.release_customer(self.uow, self.caller, load_id(customer_id), reason)

    @rpc
    def list_pool(self, query: dict) -> dict:
        """A page of the pool the caller sees (its territory; HQ: all), masked."""
        args = load(PoolListArgs, query)
        return pool.list_pool(self.uow, self.caller, args, self.partners.get_partner)

    @rpc(idempotent=True)
    def claim_pool_customer(self, customer_id: int) -> dict:
        """A partner covering its region claims a customer from the pool."""
        return pool.claim_customer(
            self.uow, self.caller, load_id(customer_id), self.partners.partners_covering
        )

    @rpc(idempotent=True)
    def add_follow_up(self, customer_id: int, payload: dict) -> dict:
        """The partner holding a customer records a follow-up."""
        data = load(FollowUpIn, payload)
        return follow_ups.add_follow_up(self.uow, self.caller, load_id(customer_id), data)

    @rpc
    def list_follow_ups(self, customer_id: int, query: dict) -> dict:
        """A page of a customer's follow-ups, newest first."""
        args = load(FollowUpListArgs, query)
        return follow_ups.list_follow_ups(self.uow, self.caller, load_id(customer_id), args)

    # -- extensions (延期) ------------------------------------------------------------------

    @rpc(idempotent=True)
    def request_extension(self, customer_id: int, payload: dict) -> dict:
        """The partner holding a protected customer asks for more days; approval starts."""
        data = load(ExtensionIn, payload)
        return extensions.request_extension(self.uow, self.caller, load_id(customer_id), data)

    @rpc
    def list_extensions(self, query: dict) -> dict:
        """A page of the extensions the caller sees."""
        args = load(ExtensionListArgs, query)
        return extensions.list_extensions(self.uow, self.caller, args)

    @rpc
    def get_extension(self, extension_id: int) -> dict:
        """An extension the caller sees."""
        return extensions.get_extension(self.uow, self.caller, load_id(extension_id))

    @rpc(idempotent=True)
    def approve_extension(self, extension_id: int, payload: dict) -> dict:
        """An approver of the current step approves; the last one moves the protection."""
        comment = load(DecisionIn, payload)["comment"]
        return extensions.approve_extension(self.uow, self.caller, load_id(extension_id), comment)

    @rpc(idempotent=True)
    def reject_extension(self, extension_id: int, payload: dict) -> dict:
        """An approver rejects the extension with a reason."""
        comment = load(RejectIn, payload)["comment"]
        return extensions.reject_extension(self.uow, self.caller, load_id(extension_id), comment)

    @rpc
    def get_extension_flow(self) -> dict:
        """The extension approval flow."""
        return extensions.get_flow(self.uow, self.caller)

    @rpc
    def set_extension_flow(self, payload: dict) -> dict:
        """HQ replaces the extension approval flow."""
        steps = load(FlowIn, payload)["steps"]
        return extensions.set_flow(self.uow, self.caller, steps)

    # -- filings --------------------------------------------------------------------------

    @rpc
    def list_filings(self, query: dict) -> dict:
        """A page of the filings the caller sees."""
        args = load(FilingListArgs, query)
        return customers.list_filings(self.uow, self.caller, args)

    @rpc
    def get_filing(self, filing_id: int) -> dict:
        """A filing the caller sees."""
        return customers.get_filing(self.uow, self.caller, load_id(filing_id))

    @rpc(idempotent=True)
    def approve_filing(self, filing_id: int, payload: dict) -> dict:
        """An approver of the current step approves the filing."""
        comment = load(DecisionIn, payload)["comment"]
        return customers.approve_filing(self.uow, self.caller, load_id(filing_id), comment)

    @rpc(idempotent=True)
    def reject_filing(self, filing_id: int, payload: dict) -> dict:
        """An approver rejects the filing with a reason."""
        comment = load(RejectIn, payload)["comment"]
        return customers.reject_filing(self.uow, self.caller, load_id(filing_id), comment)

    @rpc
    def get_approval_flow(self) -> dict:
        """The filing approval flow."""
        return customers.get_flow(self.uow, self.caller)

    @rpc
    def set_approval_flow(self, payload: dict) -> dict:
        """HQ replaces the filing approval flow."""
        steps = load(FlowIn, payload)["steps"]
        return customers.set_flow(self.uow, self.caller, steps)

    # -- leads --------------------------------------------------------------------------

    @rpc(idempotent=True)
    def create_lead(self, payload: dict) -> dict:
        """HQ enters a lead; it is routed to a partner at once."""
        data = load(LeadIn, payload)
        return leads.create_lead(
            self.uow,
            self.caller,
            data,
            self.partners.partners_covering,
            self.partners.partner_terms,
            self.partners.resolve_address,
        )

    @rpc(idempotent=True)
    def start_lead_import(self, payload: dict) -> dict:
        """Make an import with the first part of a file's rows (or all of them), under
        the import's id; the last part queues the import, which runs in the background
        (``run_lead_imports``)."""
        data = load(LeadImportIn, payload)
        if data["offset"] != 0:
            raise InvalidInput("an import starts at row 0", errors={"offset": ["must be 0"]})
        return self._received(imports.receive_rows(self.uow, self.caller, data))

    @rpc
    def add_lead_import_rows(self, payload: dict) -> dict:
        """The next part of an import's rows (a part sent again is kept once)."""
        data = load(LeadImportIn, payload)
        return self._received(imports.receive_rows(self.uow, self.caller, data))

    def _received(self, job: dict) -> dict:
        if job["status"] == QUEUED:
            self.wake_imports()
        return job

    @rpc
    def get_lead_import(self, job_id: str) -> dict:
        """An import and how far it has come."""
        return imports.get_import(self.uow, self.caller, job_id)

    @rpc
    def list_lead_imports(self, query: dict) -> dict:
        """A page of the imports, the most recent first."""
        args = load(LeadImportListArgs, query)
        return imports.list_imports(self.uow, self.caller, args)

    @rpc
    def list_leads(self, query: dict) -> dict:
        """A page of the leads the caller sees."""
        args = load(LeadListArgs, query)
        return leads.list_leads(self.uow, self.caller, args)

    @rpc
    def get_lead(self, lead_id: int) -> dict:
        """A lead the caller sees."""
        return leads.get_lead(self.uow, self.caller, load_id(lead_id))

    @rpc(idempotent=True)
    def claim_lead(self, lead_id: int) -> dict:
        """The assigned partner claims the lead: its customer, protected."""
        return leads.claim_lead(
            self.uow, self.caller, load_id(lead_id), self.partners.partner_terms
        )

    @rpc(idempotent=True)
    def decline_lead(self, lead_id: int, payload: dict) -> dict:
        """The assigned partner declines the lead; it moves on."""
        reason = load(DeclineIn, payload)["reason"]
        return leads.decline_lead(
            self.uow,
            self.caller,
            load_id(lead_id),
            reason,
            self.partners.partners_covering,
            self.partners.partner_terms,
        )

    @rpc(idempotent=True)
    def assign_lead(self, lead_id: int, payload: dict) -> dict:
        """HQ hands an unclaimed lead by hand to a partner covering its region."""
        data = load(LeadAssignIn, payload)
        return assignment.assign_lead(
            self.uow,
            self.caller,
            load_id(lead_id),
            data,
            self.partners.partners_covering,
            self.partners.get_partner,
        )

    # -- a terminated partner's handover ------------------------------------------------

    @rpc
    def handover_counts(self, partner_id: int) -> dict:
        """What a partner holds here: protected customers, pending filings, open leads (HQ
        ``partner.manage``: the partners service asks for a partner's handover)."""
        return handover.handover_counts(self.uow, self.caller, load_id(partner_id, "partner_id"))

    @event_handler("partners", "partner_terminated")
    def on_partner_terminated(self, event: dict) -> None:
        """Hand over what the terminated partner holds, a batch at a time."""
        partner = load_event(partners_events.PartnerChanged, event)
        handover.start(
            self.uow,
            partner["id"],
            partner["handover"],
            self.partners.partners_covering,
            self.partners.partner_terms,
        )

    @event_handler("filing", "partner_handover_continued")
    def on_partner_handover_continued(self, event: dict) -> None:
        """The next batch of a terminated partner's handover."""
        progress = load_event(PartnerHandover, event)
        handover.hand_over(
            self.uow, progress, self.partners.partners_covering, self.partners.partner_terms
        )

    # -- events and timers --------------------------------------------------------------

    @event_handler("orders", "order_approved")
    def on_order_approved(self, event: dict) -> None:
        """An approved order extends its customer's protection."""
        order = load_event(orders_events.OrderApproved, event)
        customers.extend_protection(
            self.uow, order["customer_id"], order["partner_id"], order["approved_at"]
        )

    @import_timer(interval=min(get_settings().timer_interval, IMPORT_TICK))
    def run_lead_imports(self) -> None:
        """Import the rows of queued imports in batches; one replica runs each import."""
        more = imports.run_imports(
            self.uow,
            self.partners.partners_covering,
            self.partners.partner_terms,
            self.partners.resolve_addresses,
        )
        if more:
            self.wake_imports()

    @timer(interval=get_settings().timer_interval)
    def housekeeping(self) -> None:
        """Reminders and expiries; one replica does each tick."""
        housekeeping.run(
            self.uow, self.partners.partners_covering, self.partners.partner_terms, utcnow()
        )
