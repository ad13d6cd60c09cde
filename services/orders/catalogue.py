"""HQ's product catalogue: SKU, name, unit, list price, active.

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
from services.common.schemas import page_of
from services.orders.models import Product
from services.orders.schemas import ProductOut


def dump_product(product: Product) -> dict:
    return ProductOut().dump(product)


def list_products(session: Session, args: dict) -> dict:
    stmt = select(Product).order_by(Product.sku)
    if args.get("active") is not None:
        stmt = stmt.where(Product.active == args["active"])
    if args.get("q"):
        stmt = stmt.where(contains_text(args["q"], Product.sku, Product.name))
    return page_of(session, stmt, args["page"], args["per_page"], dump_product)


def get_product(session: Session, product_id: int) -> dict:
    product = session.get(Product, product_id)
    if product is None:
        raise NotFound(f"product {product_id} not found")
    return dump_product(product)


def create_product(session: Session, caller: Caller, data: dict) -> dict:
    """HQ adds a product; its SKU is unique (case-insensitive)."""
    caller.require_hq("product.manage")
    taken = session.scalar(select(Product.id).where(func.lower(Product.sku) == data["sku"].lower()))
    if taken:
        raise Conflict("a product with this SKU exists", "sku_taken")
    product = Product(**data)
    session.add(product)
    session.flush()
    return dump_product(product)


def update_product(session: Session, caller: Caller, product_id: int, data: dict) -> dict:
    """HQ changes a product's name, unit, list price or activity; existing orders keep the
    values they were made with. An inactive product cannot be ordered."""
    caller.require_hq("product.manage")
    product = session.get(Product, product_id)
    if product is None:
        raise NotFound(f"product {product_id} not found")
    for key, value in data.items():
        setattr(product, key, value)
    session.flush()
    return dump_product(product)


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
