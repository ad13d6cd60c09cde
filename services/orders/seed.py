"""Demo data of the orders service: a small product catalogue.

The order approval flow needs no seeding: until HQ sets one, the default of
``services.orders.flows`` applies.
"""

from __future__ import annotations

from decimal import Decimal

from sqlalchemy import select
from sqlalchemy.orm import Session

from services.orders.models import Product

DEMO_PRODUCTS = (
    # sku, name, unit, list price
    ("CRM-STD-Y", "CRM 标准版（年）", "套", "12000.00"),
    ("CRM-PRO-Y", "CRM 专业版（年）", "套", "36000.00"),
    ("IMPL-DAY", "实施服务", "人天", "2500.00"),
    ("TERM-01", "智能终端", "台", "3999.00"),
)


def seed_demo(session: Session) -> bool:
    """The demo catalogue; False if it is already there."""
    if session.scalar(select(Product.id).where(Product.sku == DEMO_PRODUCTS[0][0])):
        return False
    for sku, name, unit, list_price in DEMO_PRODUCTS:
        session.add(Product(sku=sku, name=name, unit=unit, list_price=Decimal(list_price)))
    session.flush()
    return True
