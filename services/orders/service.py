"""The orders service's entry points: the product catalogue, dealer orders and their
approval, comments, the order approval flow, sales reports, and the read copy of partners.

Each method loads its input with the service's schemas and calls one use case with the
unit of work, the caller and the peer calls it needs.
"""

from __future__ import annotations

from services.common.config import get_settings
from services.common.entrypoints import event_handler, rpc, timer
from services.common.events import load_event, occurred_at
from services.common.rpc import ServiceRpc
from services.common.schemas import DecisionIn, RejectIn, load, load_id
from services.common.service import ServiceBase
from services.common.timeutil import utcnow
from services.orders import (
    catalogue,
    comments,
    credit,
    exports,
    flows,
    handover,
    ordering,
    partner_copy,
    payments,
    receivables,
    reminders,
    reports,
)
from services.orders.schemas import (
    CancelIn,
    CollectionsArgs,
    CollectionsExportArgs,
    CommentIn,
    CreditIn,
    OrderCreate,
    OrderFlowIn,
    OrderListArgs,
    OrderUpdate,
    PaymentIn,
    PaymentListArgs,
    PaymentPlanIn,
    ProductCreate,
    ProductListArgs,
    ProductUpdate,
    ReceivablesArgs,
    ReceivablesExportArgs,
    SalesExportArgs,
    SalesReportArgs,
    SummaryArgs,
    SummaryExportArgs,
)
from services.partners import events as partners_events


class OrdersService(ServiceBase):
    name = "orders"

    #: ``filing.owned_customer(customer_id)``, called as the worker's caller, with a timeout.
    filing = ServiceRpc("filing")
    #: ``partners.region_names({"codes": [...]})``, for the reports;
    #: ``partners.get_partner(partner_id)``, as the caller, for credit limits.
    partners = ServiceRpc("partners")

    # -- products -----------------------------------------------------------------------

    @rpc
    def list_products(self, query: dict) -> dict:
        """A page of the catalogue."""
        return catalogue.list_products(self.uow, load(ProductListArgs, query))

    @rpc
    def get_product(self, product_id: int) -> dict:
        """One product."""
        return catalogue.get_product(self.uow, load_id(product_id))

    @rpc(idempotent=True)
    def create_product(self, payload: dict) -> dict:
        """HQ adds a product."""
        data = load(ProductCreate, payload)
        return catalogue.create_product(self.uow, self.caller, data)

    @rpc
    def update_product(self, product_id: int, payload: dict) -> dict:
        """HQ changes a product."""
        data = load(ProductUpdate, payload)
        return catalogue.update_product(self.uow, self.caller, load_id(product_id), data)

    # -- orders -------------------------------------------------------------------------

    @rpc
    def list_orders(self, query: dict) -> dict:
        """A page of the orders the caller sees."""
        return ordering.list_orders(self.uow, self.caller, load(OrderListArgs, query))

    @rpc
    def get_order(self, order_id: int) -> dict:
        """One order the caller sees, whole."""
        return ordering.get_order(self.uow, self.caller, load_id(order_id))

    @rpc(idempotent=True)
    def create_order(self, payload: dict) -> dict:
        """A draft order for a customer protected for the caller's partner."""
        data = load(OrderCreate, payload)
        return ordering.create_order(self.uow, self.caller, data, self.filing.owned_customer)

    @rpc
    def update_order(self, order_id: int, payload: dict) -> dict:
        """The owner revises a draft or rejected order."""
        data = load(OrderUpdate, payload)
        return ordering.update_order(self.uow, self.caller, load_id(order_id), data)

    @rpc(idempotent=True)
    def submit_order(self, order_id: int) -> dict:
        """Start the approval flow (the customer is checked with filing again)."""
        return ordering.submit_order(
            self.uow, self.caller, load_id(order_id), self.filing.owned_customer
        )

    @rpc(idempotent=True)
    def approve_order(self, order_id: int, payload: dict) -> dict:
        """HQ approves the current step."""
        comment = load(DecisionIn, payload)["comment"]
        return ordering.approve_order(self.uow, self.caller, load_id(order_id), comment)

    @rpc(idempotent=True)
    def reject_order(self, order_id: int, payload: dict) -> dict:
        """HQ rejects the order, with a comment."""
        comment = load(RejectIn, payload)["comment"]
        return ordering.reject_order(self.uow, self.caller, load_id(order_id), comment)

    @rpc(idempotent=True)
    def complete_order(self, order_id: int) -> dict:
        """HQ marks an approved order delivered."""
        return ordering.complete_order(self.uow, self.caller, load_id(order_id))

    @rpc(idempotent=True)
    def cancel_order(self, order_id: int, payload: dict) -> dict:
        """The owner (before approval) or HQ (after it) cancels the order."""
        reason = load(CancelIn, payload)["reason"]
        return ordering.cancel_order(self.uow, self.caller, load_id(order_id), reason)

    # -- comments -----------------------------------------------------------------------

    @rpc
    def list_comments(self, order_id: int) -> list[dict]:
        """The comments on an order."""
        return comments.list_comments(self.uow, self.caller, load_id(order_id))

    @rpc(idempotent=True)
    def add_comment(self, order_id: int, payload: dict) -> dict:
        """Comment on an order; everyone who took part is told."""
        body = load(CommentIn, payload)["body"]
        return comments.add_comment(self.uow, self.caller, load_id(order_id), body)

    # -- payments received (回款) and credit ------------------------------------------

    @rpc
    def get_payment_plan(self, order_id: int) -> dict:
        """An approved order's payment plan (the default one until HQ sets one)."""
        return payments.get_plan(self.uow, self.caller, load_id(order_id))

    @rpc
    def set_payment_plan(self, order_id: int, payload: dict) -> dict:
        """HQ replaces an approved order's payment plan."""
        data = load(PaymentPlanIn, payload)
        return payments.set_plan(self.uow, self.caller, load_id(order_id), data)

    @rpc
    def list_order_payments(self, order_id: int) -> list[dict]:
        """An order's receipts and refunds."""
        return payments.list_order_payments(self.uow, self.caller, load_id(order_id))

    @rpc(idempotent=True)
    def record_payment(self, order_id: int, payload: dict) -> dict:
        """HQ finance records a receipt or a refund against an approved order."""
        data = load(PaymentIn, payload)
        return payments.record_payment(self.uow, self.caller, load_id(order_id), data)

    @rpc
    def list_payments(self, query: dict) -> dict:
        """A page of the payments the caller sees."""
        return payments.list_payments(self.uow, self.caller, load(PaymentListArgs, query))

    @rpc
    def get_credit(self, partner_id: int) -> dict:
        """A partner's credit limit, what it owes and what is available."""
        partner_id = load_id(partner_id)
        return credit.get_credit(self.uow, self.caller, partner_id, self.partners.get_partner)

    @rpc
    def set_credit(self, partner_id: int, payload: dict) -> dict:
        """HQ sets a partner's credit limit (null: none)."""
        data = load(CreditIn, payload)
        partner_id = load_id(partner_id)
        return credit.set_credit(self.uow, self.caller, partner_id, data, self.partners.get_partner)

    # -- the approval flow (served at /api/v1/approval-flows/order) ---------------------

    @rpc
    def get_approval_flow(self) -> dict:
        """The order approval flow."""
        return flows.get_flow(self.uow, self.caller)

    @rpc
    def set_approval_flow(self, payload: dict) -> dict:
        """Replace the order approval flow."""
        return flows.set_flow(self.uow, self.caller, load(OrderFlowIn, payload))

    # -- reports ------------------------------------------------------------------------

    @rpc
    def sales_report(self, query: dict) -> dict:
        """Sales grouped by the dimensions asked for."""
        args = load(SalesReportArgs, query)
        return reports.sales_report(self.uow, self.caller, args, self._region_names)

    @rpc
    def export_sales_report(self, query: dict) -> dict:
        """The sales report as a CSV or XLSX file, base64-encoded."""
        args = load(SalesExportArgs, query)
        return exports.export_sales_report(self.uow, self.caller, args, self._region_names)

    @rpc
    def order_summary(self, query: dict) -> dict:
        """Orders by province, city and partner."""
        args = load(SummaryArgs, query)
        return reports.order_summary(self.uow, self.caller, args, self._region_names)

    @rpc
    def export_order_summary(self, query: dict) -> dict:
        """The order summary as a CSV or XLSX file, base64-encoded."""
        args = load(SummaryExportArgs, query)
        return exports.export_order_summary(self.uow, self.caller, args, self._region_names)

    @rpc
    def receivables_report(self, query: dict) -> dict:
        """Outstanding amounts aged by days overdue (应收账龄)."""
        args = load(ReceivablesArgs, query)
        return receivables.receivables_report(self.uow, self.caller, args, self._region_names)

    @rpc
    def export_receivables_report(self, query: dict) -> dict:
        """The receivables report as a CSV or XLSX file, base64-encoded."""
        args = load(ReceivablesExportArgs, query)
        return receivables.export_receivables(self.uow, self.caller, args, self._region_names)

    @rpc
    def collections_report(self, query: dict) -> dict:
        """Payments received net of refunds (回款报表)."""
        args = load(CollectionsArgs, query)
        return receivables.collections_report(self.uow, self.caller, args, self._region_names)

    @rpc
    def export_collections_report(self, query: dict) -> dict:
        """The collections report as a CSV or XLSX file, base64-encoded."""
        args = load(CollectionsExportArgs, query)
        return receivables.export_collections(self.uow, self.caller, args, self._region_names)

    @timer(interval=get_settings().timer_interval)
    def payment_reminders(self) -> None:
        """Installments due soon or overdue announced; one replica does each tick."""
        reminders.run(self.uow, utcnow())

    def _region_names(self, codes: list[str]) -> dict[str, str]:
        return self.partners.region_names({"codes": codes})

    # -- what orders keeps of partners --------------------------------------------------

    @event_handler("partners", "partner_created")
    def on_partner_created(self, event: dict) -> None:
        """Keep the new partner."""
        partner = load_event(partners_events.PartnerChanged, event)
        partner_copy.apply_partner(self.uow, partner, occurred_at(event))

    @event_handler("partners", "partner_updated")
    def on_partner_updated(self, event: dict) -> None:
        """Keep the partner's new state."""
        partner = load_event(partners_events.PartnerChanged, event)
        partner_copy.apply_partner(self.uow, partner, occurred_at(event))

    @event_handler("partners", "partner_suspended")
    def on_partner_suspended(self, event: dict) -> None:
        """Keep the partner's new state."""
        partner = load_event(partners_events.PartnerChanged, event)
        partner_copy.apply_partner(self.uow, partner, occurred_at(event))

    @event_handler("partners", "partner_activated")
    def on_partner_activated(self, event: dict) -> None:
        """Keep the partner's new state."""
        partner = load_event(partners_events.PartnerChanged, event)
        partner_copy.apply_partner(self.uow, partner, occurred_at(event))

    @event_handler("partners", "partner_terminated")
    def on_partner_terminated(self, event: dict) -> None:
        """Keep the partner's new state."""
        partner = load_event(partners_events.PartnerChanged, event)
        partner_copy.apply_partner(self.uow, partner, occurred_at(event))

    # -- a terminated partner's handover ------------------------------------------------

    @rpc
    def handover_counts(self, partner_id: int) -> dict:
        """A partner's draft, submitted and rejected orders (HQ ``partner.manage``: the
        partners service asks for a partner's handover)."""
        return handover.handover_counts(self.uow, self.caller, load_id(partner_id, "partner_id"))

    @event_handler("partners", "partner_terminated")
    def on_partner_terminated_cancel_orders(self, event: dict) -> None:
        """Cancel the terminated partner's unapproved orders (a queue and a transaction of
        their own: the partner copy's handler above commits on its own)."""
        partner = load_event(partners_events.PartnerChanged, event)
        handover.cancel_open_orders(self.uow, partner["id"], partner["handover"])
