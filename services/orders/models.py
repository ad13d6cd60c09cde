"""Tables of the orders service: products, orders with their lines, actions and comments,
the approval-flow configuration, the reports' rollup of the orders, payment plans, payments
received and refunded, partners' credit limits, and a read copy of partners (names for
reports); and the statuses an order goes through (``Order.status``),
defined here once."""

from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    Date,
    ForeignKey,
    Index,
    Integer,
    Numeric,
    SmallInteger,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship

from services.common.db import BigIntPK, MoneyNumeric, UTCDateTime
from services.common.timeutil import utcnow


class Base(DeclarativeBase):
    pass


class Product(Base):
    """An item of HQ's catalogue; orders keep a copy of what they need of it."""

    __tablename__ = "products"

    id: Mapped[int] = mapped_column(BigIntPK, primary_key=True, autoincrement=True)
    sku: Mapped[str] = mapped_column(String(40), unique=True)
    name: Mapped[str] = mapped_column(String(200))
    unit: Mapped[str] = mapped_column(String(20))
    list_price: Mapped[Decimal] = mapped_column(MoneyNumeric)
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, onupdate=utcnow)


class Order(Base):
    """A partner's order for one of its protected customers.

    ``customer_name``, ``region_code``, ``province``, ``city`` and ``customer_source`` are a
    snapshot of the customer taken from the filing service at creation and at submission, so
    that reports and events never need to call back. ``approval`` is the running approval-flow
    instance (``services.common.approval``) of the latest submission.
    """

    __tablename__ = "orders"
    __table_args__ = (
        UniqueConstraint("partner_id", "contract_no", name="uq_orders_partner_contract"),
        Index("ix_orders_partner_created", "partner_id", "created_at"),
        Index("ix_orders_created_at", "created_at"),
    )

    id: Mapped[int] = mapped_column(BigIntPK, primary_key=True, autoincrement=True)
    partner_id: Mapped[int] = mapped_column(BigInteger)
    customer_id: Mapped[int] = mapped_column(BigInteger, index=True)
    customer_name: Mapped[str] = mapped_column(String(200))
    contract_no: Mapped[str] = mapped_column(String(60))
    region_code: Mapped[str] = mapped_column(String(6))
    province: Mapped[str] = mapped_column(String(6))
    city: Mapped[str | None] = mapped_column(String(6))
    customer_source: Mapped[str] = mapped_column(String(20))
    status: Mapped[str] = mapped_column(String(20), index=True)
    total_amount: Mapped[Decimal] = mapped_column(MoneyNumeric)
    total_quantity: Mapped[int] = mapped_column(BigInteger)
    max_discount: Mapped[Decimal] = mapped_column(Numeric(9, 6))
    notes: Mapped[str | None] = mapped_column(Text)
    approval: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    created_by: Mapped[int | None] = mapped_column(BigInteger)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, onupdate=utcnow)
    submitted_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    approved_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    completed_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    cancelled_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    cancel_reason: Mapped[str | None] = mapped_column(Text)
    #: Receipts less refunds (``services.orders.payments``), kept with each payment under
    #: the order's row lock: never more than ``total_amount``, never below 0.
    paid_amount: Mapped[Decimal] = mapped_column(
        MoneyNumeric, default=Decimal(0), server_default="0"
    )

    lines: Mapped[list[OrderLine]] = relationship(
        cascade="all, delete-orphan", order_by="OrderLine.position", lazy="selectin"
    )


class OrderLine(Base):
    """A product, a quantity and the agreed unit price; ``amount`` = quantity x unit price.
    A product is on one line of an order at most (the sales report counts on it)."""

    __tablename__ = "order_lines"
    __table_args__ = (
        UniqueConstraint("order_id", "product_id", name="uq_order_lines_order_product"),
    )

    id: Mapped[int] = mapped_column(BigIntPK, primary_key=True, autoincrement=True)
    order_id: Mapped[int] = mapped_column(ForeignKey("orders.id"), index=True)
    position: Mapped[int] = mapped_column(Integer)
    product_id: Mapped[int] = mapped_column(ForeignKey("products.id"), index=True)
    sku: Mapped[str] = mapped_column(String(40))
    product_name: Mapped[str] = mapped_column(String(200))
    unit: Mapped[str] = mapped_column(String(20))
    quantity: Mapped[int] = mapped_column(Integer)
    list_price: Mapped[Decimal] = mapped_column(MoneyNumeric)
    unit_price: Mapped[Decimal] = mapped_column(MoneyNumeric)
    amount: Mapped[Decimal] = mapped_column(MoneyNumeric)


class OrderRollup(Base):
    """The orders summed per key, for the reports (``services.orders.rollup`` keeps it in
    the transaction of every change of an order and says what each level holds).

    A row is one key of one ``level``: a day (or the first day of a month) of the Shanghai
    calendar of the orders' creation, and the partner, province, city, product, customer
    source and status of the level's dimensions; a dimension the level leaves out holds
    its blank (0 or ``""``, and ``""`` for an order without a city). ``order_count`` counts
    each order once (on its line of the smallest product id), ``line_count`` its lines;
    ``quantity`` and ``amount`` are the lines' sums. A key whose counts fall to zero is
    deleted.
    """

    __tablename__ = "order_rollup"
    # The key leads with the partner (a partner's user reads its own keys); the days of a
    # range's cut months are read by day.
    __table_args__ = (Index("ix_order_rollup_level_day", "level", "day"),)

    level: Mapped[int] = mapped_column(SmallInteger, primary_key=True, autoincrement=False)
    partner_id: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=False)
    day: Mapped[date] = mapped_column(Date, primary_key=True)
    province: Mapped[str] = mapped_column(String(6), primary_key=True)
    city: Mapped[str] = mapped_column(String(6), primary_key=True)
    product_id: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=False)
    source: Mapped[str] = mapped_column(String(20), primary_key=True)
    status: Mapped[str] = mapped_column(String(20), primary_key=True)
    order_count: Mapped[int] = mapped_column(BigInteger)
    line_count: Mapped[int] = mapped_column(BigInteger)
    quantity: Mapped[int] = mapped_column(BigInteger)
    #: Sums of many orders: wider than one order's ``MoneyNumeric``.
    amount: Mapped[Decimal] = mapped_column(Numeric(20, 2))


class OrderAction(Base):
    """Who did what to an order, when, with which comment (every round of approval)."""

    __tablename__ = "order_actions"

    id: Mapped[int] = mapped_column(BigIntPK, primary_key=True, autoincrement=True)
    order_id: Mapped[int] = mapped_column(ForeignKey("orders.id"), index=True)
    user_id: Mapped[int | None] = mapped_column(BigInteger)
    action: Mapped[str] = mapped_column(String(20))
    step: Mapped[str | None] = mapped_column(String(60))
    comment: Mapped[str | None] = mapped_column(Text)
    at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class OrderComment(Base):
    """A comment on an order by the partner or HQ (collaboration)."""

    __tablename__ = "order_comments"

    id: Mapped[int] = mapped_column(BigIntPK, primary_key=True, autoincrement=True)
    order_id: Mapped[int] = mapped_column(ForeignKey("orders.id"), index=True)
    author_user_id: Mapped[int] = mapped_column(BigInteger)
    author_partner_id: Mapped[int | None] = mapped_column(BigInteger)
    body: Mapped[str] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class ApprovalFlow(Base):
    """HQ's configured approval flow of a kind of subject (here: ``order``)."""

    __tablename__ = "approval_flows"

    kind: Mapped[str] = mapped_column(String(20), primary_key=True)
    steps: Mapped[list[dict[str, Any]]] = mapped_column(JSON)
    updated_by: Mapped[int | None] = mapped_column(BigInteger)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, onupdate=utcnow)


class PartnerCopy(Base):
    """What orders knows of a partner (code and name, for reports), from the partners
    service's events. ``as_of`` is when the applied event happened: events of different
    types travel on different queues, so an older one arriving late is ignored."""

    __tablename__ = "partner_copies"

    id: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=False)
    code: Mapped[str] = mapped_column(String(40))
    name: Mapped[str] = mapped_column(String(200))
    status: Mapped[str] = mapped_column(String(20))
    as_of: Mapped[datetime] = mapped_column(UTCDateTime)


class PaymentInstallment(Base):
    """An installment of an approved order's payment plan (回款计划) that HQ set; an order
    without any follows the default plan (``rules.default_plan``), which is not stored."""

    __tablename__ = "payment_installments"
    __table_args__ = (
        UniqueConstraint("order_id", "position", name="uq_payment_installments_order_position"),
    )

    id: Mapped[int] = mapped_column(BigIntPK, primary_key=True, autoincrement=True)
    order_id: Mapped[int] = mapped_column(ForeignKey("orders.id"))
    position: Mapped[int] = mapped_column(Integer)
    due_date: Mapped[date] = mapped_column(Date)
    amount: Mapped[Decimal] = mapped_column(MoneyNumeric)
    set_by: Mapped[int | None] = mapped_column(BigInteger)
    set_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class Payment(Base):
    """A receipt (回款) or a refund recorded by HQ finance against an approved order;
    ``amount`` is positive either way, ``kind`` says which. ``partner_id`` is the order's,
    for scoped lists."""

    __tablename__ = "payments"
    __table_args__ = (
        Index("ix_payments_order", "order_id", "id"),
        Index("ix_payments_partner_received", "partner_id", "received_on"),
        Index("ix_payments_received_on", "received_on"),
    )

    id: Mapped[int] = mapped_column(BigIntPK, primary_key=True, autoincrement=True)
    order_id: Mapped[int] = mapped_column(ForeignKey("orders.id"))
    partner_id: Mapped[int] = mapped_column(BigInteger)
    kind: Mapped[str] = mapped_column(String(10))
    amount: Mapped[Decimal] = mapped_column(MoneyNumeric)
    received_on: Mapped[date] = mapped_column(Date)
    method: Mapped[str] = mapped_column(String(20))
    reference: Mapped[str | None] = mapped_column(String(100))
    recorded_by: Mapped[int | None] = mapped_column(BigInteger)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class PartnerCredit(Base):
    """A partner's credit limit (信用额度) set by HQ; no row, or a null ``credit_limit``,
    is no limit. Submissions of the partner's orders lock the row, so that two of them
    never together pass the limit (``services.orders.credit``)."""

    __tablename__ = "partner_credits"

    partner_id: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=False)
    credit_limit: Mapped[Decimal | None] = mapped_column(MoneyNumeric)
    updated_by: Mapped[int | None] = mapped_column(BigInteger)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, onupdate=utcnow)


class PaymentReminder(Base):
    """A reminder sent of an installment (``services.orders.reminders``): ``due_soon`` once
    per installment, ``overdue`` on given days. An installment is its order's ``position``
    with its ``due_date`` (a plan set again is reminded again); one row per UTC day at
    most, so that a timer restarted, or two replicas, never send one twice."""

    __tablename__ = "payment_reminders"
    __table_args__ = (
        UniqueConstraint(
            "order_id", "position", "due_date", "kind", "sent_on", name="uq_payment_reminders_day"
        ),
    )

    id: Mapped[int] = mapped_column(BigIntPK, primary_key=True, autoincrement=True)
    order_id: Mapped[int] = mapped_column(ForeignKey("orders.id"))
    position: Mapped[int] = mapped_column(Integer)
    due_date: Mapped[date] = mapped_column(Date)
    kind: Mapped[str] = mapped_column(String(10))
    sent_on: Mapped[date] = mapped_column(Date)
    amount: Mapped[Decimal] = mapped_column(MoneyNumeric)
    sent_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
