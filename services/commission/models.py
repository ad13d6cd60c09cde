"""Tables of the commission service: rate rules, entries, statements, the report's rollup
of the entries, and a read copy of the partners it pays (fed by the partners service's
events); and the values their state columns take (one definition each: the schemas and the
rules import them)."""

from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import (
    BigInteger,
    Date,
    ForeignKey,
    Index,
    Numeric,
    String,
    UniqueConstraint,
    event,
    inspect,
    text,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

from services.common.db import BigIntPK, MoneyNumeric, UTCDateTime
from services.common.timeutil import utcnow

#: Rates: fractions with up to six places (0.035 = 3.5 %).
Rate = Numeric(7, 6)


class Base(DeclarativeBase):
    pass


class PartnerCopy(Base):
    """What commission needs to know of a partner (its type for rates, its code and name
    for reports, its status), kept from the partners events that carry its state."""

    __tablename__ = "partner_copies"

    id: Mapped[int] = mapped_column(BigIntPK, primary_key=True, autoincrement=False)
    code: Mapped[str] = mapped_column(String(40))
    name: Mapped[str] = mapped_column(String(200))
    type: Mapped[str] = mapped_column(String(40))
    parent_id: Mapped[int | None] = mapped_column()
    status: Mapped[str] = mapped_column(String(20))
    #: When the partners service produced the state kept here (the event's occurred_at,
    #: or the time of the RPC fetch): an older event never overwrites a newer state.
    as_of: Mapped[datetime] = mapped_column(UTCDateTime)


class RateRule(Base):
    """Rates from ``effective_from`` on, for a partner type or one partner (an override).

    ``scope`` is ``type:<code>`` or ``partner:<id>``: one column that the unique constraint
    can hold (a NULL in a unique constraint would let duplicates through on PostgreSQL).
    """

    __tablename__ = "rate_rules"
    __table_args__ = (UniqueConstraint("scope", "effective_from", name="uq_rate_rules_scope_from"),)

    id: Mapped[int] = mapped_column(BigIntPK, primary_key=True, autoincrement=True)
    scope: Mapped[str] = mapped_column(String(60))
    partner_type: Mapped[str | None] = mapped_column(String(40))
    partner_id: Mapped[int | None] = mapped_column(index=True)
    self_sourced_rate: Mapped[Decimal] = mapped_column(Rate)
    hq_assigned_rate: Mapped[Decimal] = mapped_column(Rate)
    effective_from: Mapped[date] = mapped_column(Date)
    #: ``approval`` or ``collection`` (``schemas.BASES``).
    basis: Mapped[str] = mapped_column(String(12), default="approval", server_default="approval")
    updated_by: Mapped[int | None] = mapped_column()
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, onupdate=utcnow)


class Statement(Base):
    """A settlement of a partner's entries of one period: issued, confirmed, paid."""

    __tablename__ = "statements"
    __table_args__ = (Index("ix_statements_partner_period", "partner_id", "period"),)

    id: Mapped[int] = mapped_column(BigIntPK, primary_key=True, autoincrement=True)
    partner_id: Mapped[int] = mapped_column()
    period: Mapped[str] = mapped_column(String(7))
    status: Mapped[str] = mapped_column(String(10), index=True)  # issued confirmed paid
    total_amount: Mapped[Decimal] = mapped_column(MoneyNumeric)
    entry_count: Mapped[int] = mapped_column()
    payment_ref: Mapped[str | None] = mapped_column(String(100))
    issued_by: Mapped[int | None] = mapped_column()
    issued_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    confirmed_by: Mapped[int | None] = mapped_column()
    confirmed_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    paid_by: Mapped[int | None] = mapped_column()
    paid_at: Mapped[datetime | None] = mapped_column(UTCDateTime)


#: Entries of an order's approval or cancellation, and entries of a payment.
_OF_ORDER, _OF_PAYMENT = text("payment_id IS NULL"), text("payment_id IS NOT NULL")


class CommissionEntry(Base):
    """The commission of one approved order (``commission``), or its undoing
    (``reversal``, negative amounts). One of each kind per order at most; on basis
    ``collection``, one of each kind per payment (``payment_id``: a receipt's commission, a
    refund's reversal) and, if it is cancelled, one reversal of the order."""

    __tablename__ = "commission_entries"
    __table_args__ = (
        Index(
            "uq_commission_entries_order_kind",
            "order_id",
            "kind",
            unique=True,
            sqlite_where=_OF_ORDER,
            postgresql_where=_OF_ORDER,
        ),
        Index(
            "uq_commission_entries_payment_kind",
            "payment_id",
            "kind",
            unique=True,
            sqlite_where=_OF_PAYMENT,
            postgresql_where=_OF_PAYMENT,
        ),
        Index("ix_commission_entries_partner_period", "partner_id", "period"),
    )

    id: Mapped[int] = mapped_column(BigIntPK, primary_key=True, autoincrement=True)
    order_id: Mapped[int] = mapped_column()
    kind: Mapped[str] = mapped_column(String(12))  # commission reversal
    partner_id: Mapped[int] = mapped_column()
    partner_type: Mapped[str] = mapped_column(String(40))
    customer_id: Mapped[int | None] = mapped_column()
    contract_no: Mapped[str] = mapped_column(String(100))
    source: Mapped[str] = mapped_column(String(10))  # partner hq
    contract_amount: Mapped[Decimal] = mapped_column(MoneyNumeric)
    rate: Mapped[Decimal] = mapped_column(Rate)
    amount: Mapped[Decimal] = mapped_column(MoneyNumeric)
    period: Mapped[str] = mapped_column(String(7), index=True)
    rate_rule_id: Mapped[int | None] = mapped_column()
    approved_at: Mapped[datetime] = mapped_column(UTCDateTime)
    payment_id: Mapped[int | None] = mapped_column(BigInteger)
    statement_id: Mapped[int | None] = mapped_column(ForeignKey("statements.id"), index=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class OrderCommission(Base):
    """An order approved under a rule of basis ``collection``: the rate fixed at approval,
    its whole commission (``amount``: contract x rate, which it never exceeds) and what its
    receipts and refunds have accrued so far; ``cancelled_at`` once the order is cancelled
    (its accrual reversed, nothing accrues after)."""

    __tablename__ = "order_commissions"

    order_id: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=False)
    partner_id: Mapped[int] = mapped_column(BigInteger, index=True)
    partner_type: Mapped[str] = mapped_column(String(40))
    customer_id: Mapped[int | None] = mapped_column(BigInteger)
    contract_no: Mapped[str] = mapped_column(String(100))
    source: Mapped[str] = mapped_column(String(10))  # partner hq
    basis: Mapped[str] = mapped_column(String(12))  # collection
    contract_amount: Mapped[Decimal] = mapped_column(MoneyNumeric)
    rate: Mapped[Decimal] = mapped_column(Rate)
    amount: Mapped[Decimal] = mapped_column(MoneyNumeric)
    accrued: Mapped[Decimal] = mapped_column(MoneyNumeric)
    #: How many of the order's payments are applied (their ``sequence``): each is applied
    #: in its turn, as the receipt that completes the payment takes what the ones before
    #: left.
    payments_applied: Mapped[int] = mapped_column(default=0)
    rate_rule_id: Mapped[int | None] = mapped_column()
    approved_at: Mapped[datetime] = mapped_column(UTCDateTime)
    cancelled_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class CommissionRollup(Base):
    """The entries summed per period, partner and customer source, for the commission
    report (``services.commission.rollup``): written in the transaction of each entry, which
    never changes after (reversals are entries of their own)."""

    __tablename__ = "commission_rollup"

    period: Mapped[str] = mapped_column(String(7), primary_key=True)
    partner_id: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=False)
    source: Mapped[str] = mapped_column(String(10), primary_key=True)
    entry_count: Mapped[int] = mapped_column(BigInteger)
    #: Sums of many entries: wider than one entry's ``MoneyNumeric``.
    contract_amount: Mapped[Decimal] = mapped_column(Numeric(20, 2))
    amount: Mapped[Decimal] = mapped_column(Numeric(20, 2))


class LockedEntry(Exception):
    """Raised when code tries to change an entry that is on a statement."""


_FROZEN = (
    "order_id",
    "kind",
    "payment_id",
    "partner_id",
    "source",
    "contract_amount",
    "rate",
    "amount",
    "period",
)


@event.listens_for(CommissionEntry, "before_update")
def _refuse_changes_to_settled_entries(
    mapper: Any, connection: Any, entry: CommissionEntry
) -> None:
    """An entry's money never changes once written, and an entry on a statement never moves:
    whatever code path tries, the flush fails."""
    state = inspect(entry)
    changed = [name for name in _FROZEN if state.attrs[name].history.has_changes()]
    if changed:
        raise LockedEntry(f"commission entry {entry.id}: {', '.join(changed)} cannot change")
    moved = state.attrs.statement_id.history
    if moved.has_changes() and any(value is not None for value in moved.deleted):
        raise LockedEntry(f"commission entry {entry.id} is on a statement")
