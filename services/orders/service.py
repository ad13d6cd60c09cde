"""The orders service: the product catalogue, dealer orders and their approval, comments,
the order approval flow, and sales reports."""

from __future__ import annotations

from services.common.entrypoints import event_handler, rpc
from services.common.report_files import file_answer
from services.common.rpc import ServiceRpc
from services.common.schemas import DecisionIn, RejectIn, load, load_id
from services.common.service import ServiceBase
from services.orders import catalogue, comments, directory, domain, exports, flows, reports, views
from services.orders.schemas import (
    CancelIn,
    CommentIn,
    FlowIn,
    OrderCreate,
    OrderListArgs,
    OrderUpdate,
    ProductCreate,
    ProductListArgs,
    ProductUpdate,
    SalesExportArgs,
    SalesReportArgs,
    SummaryArgs,
)


class OrdersService(ServiceBase):
    name = "orders"

    #: ``filing.owned_customer(customer_id)``, called as the worker's caller, with a timeout.
    filing = ServiceRpc("filing")
    partners = ServiceRpc("partners")

    # -- products -----------------------------------------------------------------------

    @rpc
    def list_products(self, query: dict) -> dict:
        return catalogue.list_products(self.db, load(ProductListArgs, query))

    @rpc
    def get_product(self, product_id: int) -> dict:
        return catalogue.get_product(self.db, load_id(product_id))

    @rpc(idempotent=True)
    def create_product(self, payload: dict) -> dict:
        return catalogue.create_product(self.db, self.caller, load(ProductCreate, payload))

    @rpc
    def update_product(self, product_id: int, payload: dict) -> dict:
        return catalogue.update_product(
            self.db, self.caller, load_id(product_id), load(ProductUpdate, payload)
        )

    # -- orders -------------------------------------------------------------------------

    @rpc
    def list_orders(self, query: dict) -> dict:
        return views.list_orders(self.db, self.caller, load(OrderListArgs, query))

    @rpc
    def get_order(self, order_id: int) -> dict:
        return views.get_order(self.db, self.caller, load_id(order_id))

    @rpc(idempotent=True)
    def create_order(self, payload: dict) -> dict:
        """A draft order for a customer protected for the caller's partner."""
        return domain.create_order(
            self.db, self.caller, load(OrderCreate, payload), self.filing.owned_customer
        )

    @rpc
    def update_order(self, order_id: int, payload: dict) -> dict:
        return domain.update_order(
            self.db, self.caller, load_id(order_id), load(OrderUpdate, payload)
        )

    @rpc(idempotent=True)
    def submit_order(self, order_id: int) -> dict:
        """Start the approval flow (the customer is checked with filing again)."""
        return domain.submit_order(
            self.db, self.caller, load_id(order_id), self.filing.owned_customer, self.emit
        )

    @rpc(idempotent=True)
    def approve_order(self, order_id: int, payload: dict) -> dict:
        return domain.approve_order(
            self.db,
            self.caller,
            load_id(order_id),
            load(DecisionIn, payload)["comment"],
            self.emit,
        )

    @rpc(idempotent=True)
    def reject_order(self, order_id: int, payload: dict) -> dict:
        return domain.reject_order(
            self.db,
            self.caller,
            load_id(order_id),
            load(RejectIn, payload)["comment"],
            self.emit,
        )

    @rpc(idempotent=True)
    def complete_order(self, order_id: int) -> dict:
        return domain.complete_order(self.db, self.caller, load_id(order_id), self.emit)

    @rpc(idempotent=True)
    def cancel_order(self, order_id: int, payload: dict) -> dict:
        return domain.cancel_order(
            self.db,
            self.caller,
            load_id(order_id),
            load(CancelIn, payload)["reason"],
            self.emit,
        )

    # -- comments -----------------------------------------------------------------------

    @rpc
    def list_comments(self, order_id: int) -> list[dict]:
        return comments.list_comments(self.db, self.caller, load_id(order_id))

    @rpc(idempotent=True)
    def add_comment(self, order_id: int, payload: dict) -> dict:
        return comments.add_comment(
            self.db, self.caller, load_id(order_id), load(CommentIn, payload)["body"], self.emit
        )

    # -- the approval flow (served at /api/v1/approval-flows/order) ---------------------

    @rpc
    def get_approval_flow(self) -> dict:
        return flows.get_flow(self.db, self.caller)

    @rpc
    def set_approval_flow(self, payload: dict) -> dict:
        return flows.set_flow(self.db, self.caller, load(FlowIn, payload))

    # -- reports ------------------------------------------------------------------------

    @rpc
    def sales_report(self, query: dict) -> dict:
        report = reports.sales_report(self.db, self.caller, load(SalesReportArgs, query))
        return reports.name_regions(report, self._region_names)

    @rpc
    def export_sales_report(self, query: dict) -> dict:
        """The sales report as a CSV or XLSX file, base64-encoded."""
        args = load(SalesExportArgs, query)
        report = reports.sales_report(self.db, self.caller, args)
        named = reports.name_regions(report, self._region_names)
        return file_answer(exports.render(named, args["format"]))

    @rpc
    def order_summary(self, query: dict) -> dict:
        report = reports.summary(self.db, self.caller, load(SummaryArgs, query))
        return reports.name_regions(report, self._region_names)

    def _region_names(self, codes: list[str]) -> dict[str, str]:
        return self.partners.region_names({"codes": codes})

    # -- what orders keeps of partners --------------------------------------------------

    @event_handler("partners", "partner_created")
    def on_partner_created(self, event: dict) -> None:
        directory.apply_partner_event(self.db, event)

    @event_handler("partners", "partner_updated")
    def on_partner_updated(self, event: dict) -> None:
        directory.apply_partner_event(self.db, event)

    @event_handler("partners", "partner_suspended")
    def on_partner_suspended(self, event: dict) -> None:
        directory.apply_partner_event(self.db, event)

    @event_handler("partners", "partner_activated")
    def on_partner_activated(self, event: dict) -> None:
        directory.apply_partner_event(self.db, event)

    @event_handler("partners", "partner_terminated")
    def on_partner_terminated(self, event: dict) -> None:
        directory.apply_partner_event(self.db, event)
