"""The orders service on its own (tests/services): callers, a fake filing service, and
the calls the tests make through Nameko's ``entrypoint_hook``."""

from __future__ import annotations

import itertools

from nameko.testing.services import entrypoint_hook

from services.common.context import Caller, sign_caller
from services.common.errors import InvalidInput
from tests.support.client import unique

# Each module's orders service has a database of its own; ids start high all the same,
# because the run's partners events (with small partner ids) reach its PartnerCopy table.
_ids = itertools.count(10_000_000)

SALES_OPS = Caller(
    user_id=101,
    permissions=frozenset({"order.approve.sales", "order.fulfil", "product.manage", "report.read"}),
)
FINANCE = Caller(
    user_id=102, permissions=frozenset({"order.approve.finance", "order.cancel", "report.read"})
)
DIRECTOR = Caller(
    user_id=103, permissions=frozenset({"order.approve.director", "flow.manage", "report.read"})
)
SALES_OPS_2 = Caller(user_id=104, permissions=frozenset({"order.approve.sales"}))


def new_id() -> int:
    """An id no other call of this run has used (partners, customers, users)."""
    return next(_ids)


def partner_user(partner_id: int, *extra: str, user_id: int | None = None) -> Caller:
    """A sales user of ``partner_id`` who may create orders (and ``extra``)."""
    return Caller(
        user_id=user_id or new_id(),
        partner_id=partner_id,
        partner_ids=frozenset({partner_id}),
        permissions=frozenset({"order.create", *extra}),
    )


class FakeFiling:
    """``filing.owned_customer`` as the contract says, over customers the test declares."""

    def __init__(self) -> None:
        self.customers: dict[int, dict] = {}
        self.calls: list[int] = []

    def add(
        self,
        partner_id: int,
        region_code: str = "330106",
        source: str = "partner",
        status: str = "protected",
        name: str | None = None,
    ) -> int:
        customer_id = new_id()
        self.customers[customer_id] = {
            "id": customer_id,
            "name": name or f"客户 {customer_id}",
            "region_code": region_code,
            "source": source,
            "owner_partner_id": partner_id,
            "status": status,
            "protected_until": "2027-06-01T00:00:00Z",
        }
        return customer_id

    def owned_customer(self, customer_id: int) -> dict:
        self.calls.append(customer_id)
        if customer_id not in self.customers:
            raise InvalidInput("not your customer", "customer_not_owned")
        return dict(self.customers[customer_id])


def call(container, method: str, *args, caller: Caller = SALES_OPS):
    """``method`` of the service in ``container`` called as ``caller``."""
    with entrypoint_hook(container, method, context_data={"caller": sign_caller(caller)}) as hook:
        return hook(*args)


def new_product(container, list_price: str = "1000.00", **fields) -> dict:
    """A new product in the catalogue (HQ sales ops adds it)."""
    body = {"sku": unique("SKU"), "name": "测试产品", "unit": "台", "list_price": list_price}
    return call(container, "create_product", body | fields)


def draft(container, partner: Caller, customer_id: int, lines: list[dict], **fields) -> dict:
    """A draft order of ``partner`` for ``customer_id``."""
    body = {"customer_id": customer_id, "contract_no": unique("HT-"), "lines": lines} | fields
    return call(container, "create_order", body, caller=partner)


def line(product: dict, quantity: int, unit_price: str) -> dict:
    """An order line body."""
    return {"product_id": product["id"], "quantity": quantity, "unit_price": unit_price}
