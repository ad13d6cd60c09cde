"""HQ's product catalogue, one use case each: listing, reading, adding and changing
products (SKU, name, unit, list price, active); and ``orderable_products``, the check the
order use cases make on their lines.

Everyone signed in reads it; HQ with ``product.manage`` writes it. Orders keep a copy of
what they need of a product (SKU, name, unit, list price), so a later change never
rewrites an order.
"""

from __future__ import annotations

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from services.common.context import Caller
from services.common.db import contains_text
from services.common.errors import Conflict, InvalidInput, NotFound
from services.common.schemas import dump, ordered, page_of
from services.common.unit_of_work import UnitOfWork
from services.orders.models import Product
from services.orders.schemas import ProductOut


def dump_product(product: Product) -> dict:
    """A product as the wire shows it."""
    return dump(ProductOut, product)


#: The columns a list of products sorts by (``ProductListArgs.sort``).
PRODUCT_SORT = {
    "id": Product.id,
    "sku": Product.sku,
    "name": Product.name,
    "list_price": Product.list_price,
}


def list_products(uow: UnitOfWork, args: dict) -> dict:
    """A page of products by SKU; filters by activity and text in SKU or name."""
    stmt = select(Product).order_by(Product.sku)
    if args.get("active") is not None:
        stmt = stmt.where(Product.active == args["active"])
    if args.get("q"):
        stmt = stmt.where(contains_text(args["q"], Product.sku, Product.name))
    stmt = ordered(stmt, args.get("sort"), PRODUCT_SORT, Product.id)
    with uow:
        return page_of(uow.session, stmt, args["page"], args["per_page"], dump_product)


def get_product(uow: UnitOfWork, product_id: int) -> dict:
    """The product, or NotFound."""
    with uow:
        return dump_product(_product(uow.session, product_id))


def create_product(uow: UnitOfWork, caller: Caller, data: dict) -> dict:
    """HQ adds a product; its SKU is unique (case-insensitive)."""
    caller.require_hq("product.manage")
    with uow:
        session = uow.session
        sku = func.lower(Product.sku) == data["sku"].lower()
        if session.scalar(select(Product.id).where(sku)):
            raise Conflict("a product with this SKU exists", "sku_taken")
        product = Product(**data)
        session.add(product)
        session.flush()
        return uow.commit(dump_product(product))


def update_product(uow: UnitOfWork, caller: Caller, product_id: int, data: dict) -> dict:
    """HQ changes a product's name, unit, list price or activity; existing orders keep the
    values they were made with. An inactive product cannot be ordered."""
    caller.require_hq("product.manage")
    with uow:
        product = _product(uow.session, product_id)
        for key, value in data.items():
            setattr(product, key, value)
        uow.session.flush()
        return uow.commit(dump_product(product))


def _product(session: Session, product_id: int) -> Product:
    product = session.get(Product, product_id)
    if product is None:
        raise NotFound(f"product {product_id} not found")
    return product


def orderable_products(session: Session, product_ids: list[int]) -> dict[int, Product]:
    """The products of an order's lines; InvalidInput naming each unknown or inactive one
    (by its line index, as ``lines.<i>.product_id``)."""
    found = {
        product.id: product
        for product in session.scalars(select(Product).where(Product.id.in_(product_ids)))
    }
    errors: dict[str, list[str]] = {}
    unknown = False
    for index, product_id in enumerate(product_ids):
        product = found.get(product_id)
        if product is None:
            unknown = True
            errors[f"lines.{index}.product_id"] = [f"unknown product {product_id}"]
        elif not product.active:
            errors[f"lines.{index}.product_id"] = [f"product {product.sku} is not active"]
    if errors:
        code = "unknown_product" if unknown else "product_inactive"
        raise InvalidInput("some products cannot be ordered", code, errors)
    return found
