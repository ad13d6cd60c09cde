"""Tables of the filing service (customers and their keys, filings, leads, transfers, the
public pool's moves, follow-ups) and the values of their status columns.

A contact's name, phone and street address are personal data, stored sealed
(``services.common.sealing``); the phone (and a customer's address, for the near-duplicate
check) is also stored as its blind index (``services.common.pii``), set whenever the value
is, so that it can be found exactly."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import JSON, ForeignKey, Index, Integer, String, Text
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship, validates

from services.common import pii
from services.common.db import BigIntPK, UTCDateTime
from services.common.sealing import Sealed, SealedBatch
from services.common.timeutil import utcnow
from services.filing.keys import address_form, phone_form


class Base(DeclarativeBase):
    pass


def phone_index(phone: str | None) -> str | None:
    """The blind index stored for ``phone``."""
    return pii.blind_index(pii.PHONE, phone_form(phone) if phone else None)


def address_index(address: str | None) -> str | None:
    """The blind index stored for ``address``."""
    return pii.blind_index(pii.ADDRESS, address_form(address) if address else None)


class Customer(Base):
    """An end customer filed by a partner (or claimed from an HQ lead)."""

    __tablename__ = "customers"
    __table_args__ = (
        Index("ix_customers_owner_status", "owner_partner_id", "status"),
        Index("ix_customers_status_until", "status", "protected_until"),
    )

    id: Mapped[int] = mapped_column(BigIntPK, primary_key=True, autoincrement=True)
    name: Mapped[str] = mapped_column(String(200))
    uscc: Mapped[str | None] = mapped_column(String(18))
    contact_name: Mapped[str] = mapped_column(Sealed)
    phone: Mapped[str] = mapped_column(Sealed)
    address: Mapped[str | None] = mapped_column(Sealed)
    #: ``pii.blind_index`` of the phone (``keys.phone_form``) and of the address
    #: (``keys.address_form``): what look-ups and the near-duplicate check compare.
    phone_index: Mapped[str | None] = mapped_column(String(pii.INDEX_LENGTH), index=True)
    address_index: Mapped[str | None] = mapped_column(String(pii.INDEX_LENGTH))
    region_code: Mapped[str] = mapped_column(String(6), index=True)
    industry: Mapped[str | None] = mapped_column(String(100))
    source: Mapped[str] = mapped_column(String(10))  # CUSTOMER_SOURCES
    status: Mapped[str] = mapped_column(String(12))  # CUSTOMER_STATUSES
    owner_partner_id: Mapped[int] = mapped_column()
    protection_days: Mapped[int] = mapped_column(Integer)
    protected_until: Mapped[datetime | None] = mapped_column(UTCDateTime)
    reminder_sent_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    #: When the owner's protection began (approval, a lead or pool claim, a transfer):
    #: with ``last_follow_up_at``, where idle release counts from.
    protection_started_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    #: The owner's latest follow-up (跟进记录) since its protection began.
    last_follow_up_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    #: When the owner was told that idle release is near, once per idle period.
    idle_reminder_sent_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    #: When the customer last went to the public pool (公海); None while it never did.
    released_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    lead_id: Mapped[int | None] = mapped_column()
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, onupdate=utcnow)

    filings: Mapped[list[Filing]] = relationship(
        back_populates="customer", order_by="Filing.id", lazy="selectin"
    )

    @validates("phone")
    def _index_phone(self, key: str, value: str | None) -> str | None:
        self.phone_index = phone_index(value)
        return value

    @validates("address")
    def _index_address(self, key: str, value: str | None) -> str | None:
        self.address_index = address_index(value)
        return value


class CustomerKey(Base):
    """A key under which an active (pending or protected) customer blocks others.

    The primary key makes the duplicate check a database constraint: of two partners
    filing the same customer at the same moment, exactly one insert succeeds.
    """

    __tablename__ = "customer_keys"

    kind: Mapped[str] = mapped_column(String(10), primary_key=True)
    value: Mapped[str] = mapped_column(String(200), primary_key=True)
    customer_id: Mapped[int] = mapped_column(ForeignKey("customers.id"), index=True)


class Filing(Base):
    """A partner's request to be protected on a customer, with its approval flow."""

    __tablename__ = "filings"

    id: Mapped[int] = mapped_column(BigIntPK, primary_key=True, autoincrement=True)
    customer_id: Mapped[int] = mapped_column(ForeignKey("customers.id"), index=True)
    partner_id: Mapped[int] = mapped_column(index=True)
    status: Mapped[str] = mapped_column(String(10), index=True)  # FILING_STATUSES
    flow: Mapped[dict[str, Any]] = mapped_column(JSON)
    created_by: Mapped[int | None] = mapped_column()
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    decided_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    #: Customers of other partners close to this one when it was filed (``near_matches``
    #: in rules.py), for HQ approvers only; None for filings from before the check.
    near_matches: Mapped[list[dict[str, Any]] | None] = mapped_column(JSON)

    customer: Mapped[Customer] = relationship(back_populates="filings")


class Lead(Base):
    """A prospective customer entered by HQ, to be claimed by the partner of its region."""

    __tablename__ = "leads"
    __table_args__ = (
        Index("ix_leads_partner_status", "assigned_partner_id", "status"),
        Index("ix_leads_status_deadline", "status", "claim_deadline"),
        Index("uq_leads_import_key", "import_key", unique=True),
    )

    id: Mapped[int] = mapped_column(BigIntPK, primary_key=True, autoincrement=True)
    name: Mapped[str] = mapped_column(String(200))
    contact_name: Mapped[str] = mapped_column(Sealed)
    phone: Mapped[str] = mapped_column(Sealed)
    #: ``pii.blind_index`` of the phone (``keys.phone_form``).
    phone_index: Mapped[str | None] = mapped_column(String(pii.INDEX_LENGTH), index=True)
    region_code: Mapped[str | None] = mapped_column(String(6))
    address: Mapped[str | None] = mapped_column(Sealed)
    notes: Mapped[str | None] = mapped_column(Text)
    status: Mapped[str] = mapped_column(String(12))  # LEAD_STATUSES
    assigned_partner_id: Mapped[int | None] = mapped_column()
    assigned_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    claim_deadline: Mapped[datetime | None] = mapped_column(UTCDateTime)
    deadline_reminded_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    protection_days: Mapped[int | None] = mapped_column(Integer)
    customer_id: Mapped[int | None] = mapped_column()
    created_by: Mapped[int | None] = mapped_column()
    #: An imported lead's row fingerprint (``rules.row_key``): no row is imported twice.
    import_key: Mapped[str | None] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)

    history: Mapped[list[LeadEvent]] = relationship(order_by="LeadEvent.id", lazy="selectin")

    @validates("phone")
    def _index_phone(self, key: str, value: str | None) -> str | None:
        self.phone_index = phone_index(value)
        return value


@dataclass(eq=False, slots=True)
class NewLead:
    """A lead of an import not inserted yet: ``Lead``'s columns as plain attributes, so that
    a batch of a thousand is built, routed and inserted in bulk (``imports._insert_leads``)
    without the ORM's instrumentation of every attribute set. Hashed by identity, as a
    ``Lead`` is; routing reads and sets the same attributes on either."""

    name: str
    contact_name: str
    phone: str
    status: str
    created_at: datetime
    region_code: str | None = None
    address: str | None = None
    notes: str | None = None
    created_by: int | None = None
    import_key: str | None = None
    assigned_partner_id: int | None = None
    assigned_at: datetime | None = None
    claim_deadline: datetime | None = None
    deadline_reminded_at: datetime | None = None
    protection_days: int | None = None
    customer_id: int | None = None
    id: int | None = None
    phone_index: str | None = None
    history: list[LeadEvent] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.phone_index = phone_index(self.phone)


class LeadImport(Base):
    """An import of a file of leads: a job with an id, its rows kept (``LeadImportRow``)
    until imported in batches, and how far it has come.

    Known also by the digest of its rows once they have all arrived: the same rows are
    never imported twice (a retry after a timeout, or the same file uploaded again under
    another id). Imports from before jobs have no ``job_id`` and are ``done``."""

    __tablename__ = "lead_imports"
    __table_args__ = (Index("ix_lead_imports_status", "status"),)

    id: Mapped[int] = mapped_column(BigIntPK, primary_key=True, autoincrement=True)
    #: The id the client chose (its ``Idempotency-Key``) or the gateway gave.
    job_id: Mapped[str | None] = mapped_column(String(200), unique=True)
    digest: Mapped[str | None] = mapped_column(String(64), unique=True)
    imported_by: Mapped[int | None] = mapped_column()
    imported_at: Mapped[datetime] = mapped_column(UTCDateTime)
    status: Mapped[str] = mapped_column(String(10), default="done")  # IMPORT_STATUSES
    total: Mapped[int] = mapped_column(Integer, default=0)
    received: Mapped[int] = mapped_column(Integer, default=0)
    done: Mapped[int] = mapped_column(Integer, default=0)
    created: Mapped[int] = mapped_column(Integer, default=0)
    assigned: Mapped[int] = mapped_column(Integer, default=0)
    #: Rows refused; the first ``IMPORT_ERRORS_KEPT`` of them in ``errors``.
    rejected: Mapped[int] = mapped_column(Integer, default=0)
    errors: Mapped[list[dict[str, Any]] | None] = mapped_column(JSON)
    #: The digest of the first call's rows (the same id with other rows is refused) and of
    #: every row received so far (``rules.chained_digest``).
    first_digest: Mapped[str | None] = mapped_column(String(64))
    received_digest: Mapped[str | None] = mapped_column(String(64))
    #: Who runs the import, until when: a runner that stops (a restart) is taken over
    #: once its lease has passed.
    runner: Mapped[str | None] = mapped_column(String(32))
    lease_until: Mapped[datetime | None] = mapped_column(UTCDateTime)
    started_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    finished_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    failure: Mapped[str | None] = mapped_column(Text)


class LeadImportRow(Base):
    """Rows of an import not imported yet, from the file's row ``position`` on, as the
    file gave them: a batch's worth (``imports.BATCH_ROWS``), sealed as one (they hold
    contacts' names and phones). Deleted in the transaction that imports them, so what is
    left is what an interrupted import still has to do. (Rows received before rows were
    kept by the batch hold one row each, not a list.)"""

    __tablename__ = "lead_import_rows"

    import_id: Mapped[int] = mapped_column(
        ForeignKey("lead_imports.id", ondelete="CASCADE"), primary_key=True
    )
    position: Mapped[int] = mapped_column(Integer, primary_key=True)
    data: Mapped[list[Any] | dict[str, Any]] = mapped_column(SealedBatch)


class LeadEvent(Base):
    """The assignment history of a lead: assigned, claimed, declined, expired, unassigned."""

    __tablename__ = "lead_events"

    id: Mapped[int] = mapped_column(BigIntPK, primary_key=True, autoincrement=True)
    lead_id: Mapped[int] = mapped_column(ForeignKey("leads.id"), index=True)
    action: Mapped[str] = mapped_column(String(12))
    partner_id: Mapped[int | None] = mapped_column(index=True)
    user_id: Mapped[int | None] = mapped_column()
    reason: Mapped[str | None] = mapped_column(Text)
    at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class Transfer(Base):
    """HQ moved a customer from one partner to another (audit record)."""

    __tablename__ = "transfers"

    id: Mapped[int] = mapped_column(BigIntPK, primary_key=True, autoincrement=True)
    customer_id: Mapped[int] = mapped_column(ForeignKey("customers.id"), index=True)
    from_partner_id: Mapped[int] = mapped_column()
    to_partner_id: Mapped[int] = mapped_column()
    reason: Mapped[str] = mapped_column(Text)
    user_id: Mapped[int | None] = mapped_column()
    at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class PoolMove(Base):
    """A customer went to the public pool (``released``: by its owner, for idleness or at
    the end of its protection, with ``kind`` and ``reason``) or was taken from it
    (``claimed``). The latest release by a partner starts its reclaim cooldown."""

    __tablename__ = "pool_moves"
    __table_args__ = (Index("ix_pool_moves_customer_partner", "customer_id", "partner_id"),)

    id: Mapped[int] = mapped_column(BigIntPK, primary_key=True, autoincrement=True)
    customer_id: Mapped[int] = mapped_column(ForeignKey("customers.id"))
    partner_id: Mapped[int] = mapped_column()
    action: Mapped[str] = mapped_column(String(10))  # POOL_ACTIONS
    kind: Mapped[str | None] = mapped_column(String(10))  # RELEASE_KINDS
    reason: Mapped[str | None] = mapped_column(Text)
    user_id: Mapped[int | None] = mapped_column()
    at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class FollowUp(Base):
    """A visit, call or message the owner of a customer recorded (跟进记录)."""

    __tablename__ = "follow_ups"
    __table_args__ = (Index("ix_follow_ups_customer", "customer_id", "id"),)

    id: Mapped[int] = mapped_column(BigIntPK, primary_key=True, autoincrement=True)
    customer_id: Mapped[int] = mapped_column(ForeignKey("customers.id"))
    partner_id: Mapped[int] = mapped_column()
    kind: Mapped[str] = mapped_column(String(10))  # FOLLOW_UP_KINDS
    body: Mapped[str] = mapped_column(Text)
    next_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    created_by: Mapped[int | None] = mapped_column()
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class Extension(Base):
    """The owner of a protected customer asks for more days (延期), with a reason; the
    ``extension`` approval flow decides. Approved, the customer's ``protected_until``
    moves by ``days``."""

    __tablename__ = "extensions"
    __table_args__ = (
        Index("ix_extensions_customer", "customer_id", "id"),
        Index("ix_extensions_status", "status", "id"),
    )

    id: Mapped[int] = mapped_column(BigIntPK, primary_key=True, autoincrement=True)
    customer_id: Mapped[int] = mapped_column(ForeignKey("customers.id"))
    partner_id: Mapped[int] = mapped_column(index=True)
    days: Mapped[int] = mapped_column(Integer)
    reason: Mapped[str] = mapped_column(Text)
    status: Mapped[str] = mapped_column(String(10))  # EXTENSION_STATUSES
    flow: Mapped[dict[str, Any]] = mapped_column(JSON)
    #: When the protection it extends began (``Customer.protection_started_at``): the
    #: protection period it counts in; a new owner or a new protection is another one.
    period_started_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    protected_until_before: Mapped[datetime | None] = mapped_column(UTCDateTime)
    protected_until_after: Mapped[datetime | None] = mapped_column(UTCDateTime)
    requested_by: Mapped[int | None] = mapped_column()
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    decided_at: Mapped[datetime | None] = mapped_column(UTCDateTime)

    customer: Mapped[Customer] = relationship(lazy="selectin")


class ApprovalFlow(Base):
    """The configured filing approval flow (HQ edits it)."""

    __tablename__ = "approval_flows"

    kind: Mapped[str] = mapped_column(String(20), primary_key=True)
    steps: Mapped[list[dict[str, Any]]] = mapped_column(JSON)
    updated_by: Mapped[int | None] = mapped_column()
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, onupdate=utcnow)
