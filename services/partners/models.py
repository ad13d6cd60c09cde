"""Tables of the partners service (partners, territories, partner types, people, roles,
sign-in bookkeeping) and the states of their state columns."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    ForeignKey,
    Index,
    Integer,
    String,
    UniqueConstraint,
    func,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship

from services.common.db import BigIntPK, UTCDateTime
from services.common.sealing import Sealed
from services.common.timeutil import utcnow
from services.partners.schemas import ACTIVE


class Base(DeclarativeBase):
    pass


class PartnerType(Base):
    __tablename__ = "partner_types"

    code: Mapped[str] = mapped_column(String(40), primary_key=True)
    name: Mapped[str] = mapped_column(String(100))
    protection_days: Mapped[int] = mapped_column(Integer, default=180)
    claim_hours: Mapped[int] = mapped_column(Integer, default=72)
    #: A protected customer without a follow-up for this many days goes back to the public
    #: pool (filing's idle release); None turns idle release off for the type.
    idle_release_days: Mapped[int | None] = mapped_column(Integer)
    #: How long a partner that released a customer (or let its protection end) must wait
    #: before it may claim that customer from the pool again.
    reclaim_cooldown_days: Mapped[int] = mapped_column(Integer, default=30, server_default="30")


class PartnerGrade(Base):
    """A grade (等级) HQ gives partners: the cap on the customers a partner holds, maybe
    its own protection days, and its weight when leads are shared among partners that
    cover a region equally closely."""

    __tablename__ = "partner_grades"

    code: Mapped[str] = mapped_column(String(40), primary_key=True)
    name: Mapped[str] = mapped_column(String(100))
    #: At most this many protected or pending customers per partner; None: no cap.
    max_protected_customers: Mapped[int | None] = mapped_column(Integer)
    #: Replaces the partner type's protection days when set.
    protection_days: Mapped[int | None] = mapped_column(Integer)
    lead_weight: Mapped[int] = mapped_column(Integer, default=1, server_default="1")


class Partner(Base):
    __tablename__ = "partners"

    id: Mapped[int] = mapped_column(BigIntPK, primary_key=True, autoincrement=True)
    code: Mapped[str] = mapped_column(String(40), unique=True)
    name: Mapped[str] = mapped_column(String(200))
    type: Mapped[str] = mapped_column(ForeignKey("partner_types.code"))
    parent_id: Mapped[int | None] = mapped_column(ForeignKey("partners.id"), index=True)
    status: Mapped[str] = mapped_column(String(20), default=ACTIVE)
    #: A ``PartnerGrade`` code, or None. Not a foreign key (adding one to an existing table
    #: would rebuild it on SQLite): ``grades`` checks it, and refuses to remove a grade in
    #: use.
    grade: Mapped[str | None] = mapped_column(String(40), index=True)
    #: Personal data, stored sealed (services/common/sealing.py); never searched.
    contact_name: Mapped[str | None] = mapped_column(Sealed)
    contact_phone: Mapped[str | None] = mapped_column(Sealed)
    contact_email: Mapped[str | None] = mapped_column(Sealed)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, onupdate=utcnow)

    territory_rows: Mapped[list[TerritoryRegion]] = relationship(
        cascade="all, delete-orphan", order_by="TerritoryRegion.region_code", lazy="selectin"
    )

    @property
    def territory(self) -> list[str]:
        return [row.region_code for row in self.territory_rows]


class TerritoryRegion(Base):
    """One region code of a partner's territory (销售地区)."""

    __tablename__ = "territory_regions"

    partner_id: Mapped[int] = mapped_column(ForeignKey("partners.id"), primary_key=True)
    region_code: Mapped[str] = mapped_column(String(6), primary_key=True, index=True)


class Role(Base):
    __tablename__ = "roles"

    id: Mapped[int] = mapped_column(BigIntPK, primary_key=True, autoincrement=True)
    code: Mapped[str] = mapped_column(String(60), unique=True)
    name: Mapped[str] = mapped_column(String(100))
    scope: Mapped[str] = mapped_column(String(10))  # "hq" or "partner"
    partner_types: Mapped[list[str]] = mapped_column(JSON, default=list)
    permissions: Mapped[list[str]] = mapped_column(JSON, default=list)
    include_sub_partners: Mapped[bool] = mapped_column(Boolean, default=False)
    #: The region codes an HQ role is limited to (区域经理); empty: the whole country.
    regions: Mapped[list[str]] = mapped_column(JSON, default=list)
    builtin: Mapped[bool] = mapped_column(Boolean, default=False)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class User(Base):
    __tablename__ = "users"

    id: Mapped[int] = mapped_column(BigIntPK, primary_key=True, autoincrement=True)
    username: Mapped[str] = mapped_column(String(60), unique=True)
    password_hash: Mapped[str] = mapped_column(String(200))
    display_name: Mapped[str] = mapped_column(String(100))
    #: Personal data, stored sealed (services/common/sealing.py); never searched.
    email: Mapped[str | None] = mapped_column(Sealed)
    phone: Mapped[str | None] = mapped_column(Sealed)
    partner_id: Mapped[int | None] = mapped_column(ForeignKey("partners.id"), index=True)
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    language: Mapped[str] = mapped_column(String(5), default="zh")
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    last_login_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    #: Written into every access token at issue; raised when the user's password, roles or
    #: activity change, so that the tokens issued before stop working at once.
    token_version: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    #: When someone other than the user last set its password or roles (or created it): an
    #: account set up by someone else after an approval flow started decides none of its
    #: steps. Null only for rows the migration could not date.
    credentials_set_at: Mapped[datetime | None] = mapped_column(UTCDateTime, default=utcnow)

    roles: Mapped[list[Role]] = relationship(
        secondary="user_roles", order_by="Role.code", lazy="selectin"
    )


class UserRole(Base):
    __tablename__ = "user_roles"

    user_id: Mapped[int] = mapped_column(ForeignKey("users.id"), primary_key=True)
    role_id: Mapped[int] = mapped_column(ForeignKey("roles.id"), primary_key=True, index=True)


class RefreshToken(Base):
    """A refresh token, stored as a hash; rotated on every use, revocable."""

    __tablename__ = "refresh_tokens"
    __table_args__ = (UniqueConstraint("token_hash"),)

    id: Mapped[int] = mapped_column(BigIntPK, primary_key=True, autoincrement=True)
    token_hash: Mapped[str] = mapped_column(String(64))
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id"), index=True)
    family: Mapped[str] = mapped_column(String(36), index=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime)
    revoked_at: Mapped[datetime | None] = mapped_column(UTCDateTime)


class LoginFailure(Base):
    """A failed sign-in, kept for a while to slow down password guessing (see
    ``signin.sign_in_wait``)."""

    __tablename__ = "login_failures"
    __table_args__ = (
        Index("ix_login_failures_user_addr", "username", "address", "at"),
        Index("ix_login_failures_addr", "address", "at"),
        Index("ix_login_failures_user", "username", "at"),
        Index("ix_login_failures_at", "at"),
    )

    id: Mapped[int] = mapped_column(BigIntPK, primary_key=True, autoincrement=True)
    username: Mapped[str] = mapped_column(String(60))
    address: Mapped[str] = mapped_column(String(64))
    at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class SignInAddress(Base):
    """An address an account signed in from with its password, and when it last did: the
    guards on many failures spare a sign-in from there (see ``signin.sign_in_wait``)."""

    __tablename__ = "sign_in_addresses"
    __table_args__ = (Index("ix_sign_in_addresses_last", "last_success_at"),)

    username: Mapped[str] = mapped_column(String(60), primary_key=True)
    address: Mapped[str] = mapped_column(String(64), primary_key=True)
    last_success_at: Mapped[datetime] = mapped_column(UTCDateTime)


class AuditRecord(Base):
    """One entry of the audit log, from an ``audit_recorded`` event of any service
    (``services.common.audit``). Append-only: the database refuses UPDATE, DELETE and
    TRUNCATE (migration 0009). Each record is chained to the one before it: ``hash`` is
    SHA-256 over ``prev_hash`` and the record's canonical form (``audit.record_hash``); ids
    run 1, 2, 3, ... in the order of the chain, which ``manage.py audit verify`` walks."""

    __tablename__ = "audit_records"
    __table_args__ = (
        Index("ix_audit_records_at", "at"),
        Index("ix_audit_records_actor", "actor_id", "at"),
        Index("ix_audit_records_subject", "subject_type", "subject_id", "at"),
        Index("ix_audit_records_action", "action", "at"),
    )

    #: Given by the appender (the head's id + 1, under the chain's lock), never a sequence.
    id: Mapped[int] = mapped_column(BigIntPK, primary_key=True, autoincrement=False)
    at: Mapped[datetime] = mapped_column(UTCDateTime)
    source: Mapped[str] = mapped_column(String(40))
    action: Mapped[str] = mapped_column(String(40))
    actor_id: Mapped[int | None] = mapped_column(BigInteger)
    actor_partner_id: Mapped[int | None] = mapped_column(BigInteger)
    actor_system: Mapped[str | None] = mapped_column(String(64))
    address: Mapped[str | None] = mapped_column(String(64))
    subject_type: Mapped[str] = mapped_column(String(32))
    subject_id: Mapped[str | None] = mapped_column(String(64))
    detail: Mapped[dict] = mapped_column(JSON)
    event_id: Mapped[str] = mapped_column(String(36), unique=True)
    prev_hash: Mapped[str] = mapped_column(String(64))
    hash: Mapped[str] = mapped_column(String(64))


# Codes and user names are unique whatever their letter case, also when two are created at
# the same moment: the database decides, not a check before the insert.
Index("ux_partners_code_lower", func.lower(Partner.code), unique=True)
Index("ux_users_username_lower", func.lower(User.username), unique=True)
