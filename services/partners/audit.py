"""The audit log, the use cases: keeping what every service records, reading it, and
checking that it is whole.

Every service records an action with ``services.common.audit.record``: an
``audit_recorded`` event in the outbox of the action's own transaction. The partners
service consumes those events from every service's exchange (``append``) into
``AuditRecord``, append-only in the database (migration 0009).

The records form one chain. Records are appended one at a time under the chain's lock (a
PostgreSQL advisory lock; on SQLite the file's write lock), each taking the head's id + 1
and ``prev_hash`` = the head's hash, and ``hash`` = SHA-256 over ``prev_hash`` and the
record's canonical form (``record_hash``). ``verify`` walks the chain in id order and
names the first record whose hash or link does not match: a record edited, removed or
moved breaks the chain at that point. A role with the owner's rights can still disable
the triggers and change rows; it cannot do so without breaking the chain, unless it
rewrites every hash after the change too: keep the head's hash that ``verify`` prints
somewhere that role cannot write, and compare.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import select, text
from sqlalchemy.orm import Session

from services.common.audit import RECORDED_BY
from services.common.context import Caller
from services.common.db import is_postgres
from services.common.errors import InvalidInput
from services.common.events import EventData
from services.common.schemas import ordered, page_of
from services.common.timeutil import as_utc, iso
from services.common.unit_of_work import UnitOfWork
from services.partners.models import AuditRecord, User

#: The ``prev_hash`` of the first record.
GENESIS = "0" * 64
#: Names the advisory lock the appenders take turns on (PostgreSQL).
_CHAIN_LOCK = "partners.audit_chain"
#: A detail value holds at most this many characters (``services.common.audit``).
_DETAIL_VALUE_LENGTH = 200

_HASHED = (
    "id",
    "at",
    "source",
    "action",
    "actor_id",
    "actor_partner_id",
    "actor_system",
    "address",
    "subject_type",
    "subject_id",
    "detail",
    "event_id",
)


# -- the chain ---------------------------------------------------------------------------


def _moment(value: datetime) -> str:
    """A time as the chain hashes it: UTC, to the microsecond (what both databases keep)."""
    return as_utc(value).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def canonical(record: AuditRecord) -> bytes:
    """The record's fields (all but its hashes) in one spelling: JSON with sorted keys, no
    white space, UTF-8."""
    values = {name: getattr(record, name) for name in _HASHED}
    values["at"] = _moment(record.at)
    return json.dumps(
        values, sort_keys=True, separators=(",", ":"), ensure_ascii=False, allow_nan=False
    ).encode()


def record_hash(prev_hash: str, record: AuditRecord) -> str:
    """SHA-256 (hex) over the previous record's hash and this record's canonical form."""
    return hashlib.sha256(prev_hash.encode() + b"\n" + canonical(record)).hexdigest()


def _lock_chain(session: Session) -> AuditRecord | None:
    """Take the chain's lock for this transaction; the head (the newest record), if any.

    On PostgreSQL an advisory lock held until the commit (never ``FOR UPDATE``, which needs
    the UPDATE right the application's role does not have on this table); on SQLite the
    read ``FOR UPDATE`` takes the file's write lock (``services.common.db``)."""
    head = select(AuditRecord).order_by(AuditRecord.id.desc()).limit(1)
    if not is_postgres(session):
        return session.scalar(head.with_for_update())
    session.execute(text("SELECT pg_advisory_xact_lock(hashtext(:name))"), {"name": _CHAIN_LOCK})
    return session.scalar(head)


def append(uow: UnitOfWork, source: str, event_id: str, at: datetime, data: EventData) -> None:
    """Append the record an ``audit_recorded`` event of ``source`` carries, once: an event
    already in the log (delivered again, or replayed) adds nothing. A record of an action
    ``source`` does not make (``audit.RECORDED_BY``) is refused: the event is parked."""
    if source not in RECORDED_BY[data["action"]]:
        raise InvalidInput(f"the {source} service does not record {data['action']}")
    with uow:
        session = uow.session
        head = _lock_chain(session)
        if session.scalar(select(AuditRecord.id).where(AuditRecord.event_id == event_id)):
            return uow.commit(None)
        record = AuditRecord(
            id=(head.id + 1) if head is not None else 1,
            at=as_utc(at),
            source=source,
            action=data["action"],
            actor_id=data["actor_id"],
            actor_partner_id=data["actor_partner_id"],
            actor_system=data["actor_system"],
            address=data["address"],
            subject_type=data["subject_type"],
            subject_id=data["subject_id"],
            detail=dict(data["detail"]),
            event_id=event_id,
            prev_hash=head.hash if head is not None else GENESIS,
        )
        record.hash = record_hash(record.prev_hash, record)
        session.add(record)
        return uow.commit(None)


@dataclass(frozen=True)
class Verdict:
    """What ``verify`` found: how many records it walked, the head's id and hash when the
    chain is whole, else the first record that breaks it and why."""

    count: int
    head_id: int | None = None
    head_hash: str | None = None
    broken_id: int | None = None
    reason: str | None = None

    @property
    def whole(self) -> bool:
        return self.broken_id is None


def verify(session: Session, batch: int = 1000) -> Verdict:
    """Walk the chain in id order and recompute each hash; the first record whose hash,
    link or place does not match is named (an edited, removed or moved record)."""
    prev_hash, prev_id, count = GENESIS, 0, 0
    stmt = select(AuditRecord).order_by(AuditRecord.id).execution_options(yield_per=batch)
    for record in session.scalars(stmt):
        count += 1
        if record.id != prev_id + 1:
            return Verdict(
                count,
                broken_id=record.id,
                reason=f"records {prev_id + 1} to {record.id - 1} are missing",
            )
        if record.prev_hash != prev_hash:
            before = f"record {prev_id}" if prev_id else "the start of the chain"
            return Verdict(
                count,
                broken_id=record.id,
                reason=f"its link does not match the hash of {before}"
                " (a record removed, moved or changed there)",
            )
        if record_hash(record.prev_hash, record) != record.hash:
            return Verdict(
                count,
                broken_id=record.id,
                reason="its hash does not match its content (the record was changed)",
            )
        prev_hash, prev_id = record.hash, record.id
        session.expunge(record)
    return Verdict(count, head_id=prev_id or None, head_hash=prev_hash if count else None)


# -- reading -------------------------------------------------------------------------------


def dump_record(record: AuditRecord, names: dict[int, str]) -> dict[str, Any]:
    return {
        "id": record.id,
        "at": iso(record.at),
        "source": record.source,
        "action": record.action,
        "actor_id": record.actor_id,
        "actor_name": names.get(record.actor_id) if record.actor_id is not None else None,
        "actor_partner_id": record.actor_partner_id,
        "actor_system": record.actor_system,
        "address": record.address,
        "subject_type": record.subject_type,
        "subject_id": record.subject_id,
        "detail": record.detail,
    }


def list_records(uow: UnitOfWork, caller: Caller, args: dict) -> dict:
    """A page of the audit log, newest first, filtered by actor, action, subject and time
    (``from`` and ``to``, times with a zone, both included). HQ with
    ``audit.read`` only: anybody else is refused before anything is read."""
    caller.require_hq("audit.read")
    stmt = select(AuditRecord).order_by(AuditRecord.at.desc(), AuditRecord.id.desc())
    if args.get("actor_id") is not None:
        stmt = stmt.where(AuditRecord.actor_id == args["actor_id"])
    if args.get("action"):
        stmt = stmt.where(AuditRecord.action == args["action"])
    if args.get("subject_type"):
        stmt = stmt.where(AuditRecord.subject_type == args["subject_type"])
    if args.get("subject_id") is not None:
        stmt = stmt.where(AuditRecord.subject_id == args["subject_id"])
    if args.get("at_from") is not None:
        stmt = stmt.where(AuditRecord.at >= args["at_from"])
    if args.get("at_to") is not None:
        stmt = stmt.where(AuditRecord.at <= args["at_to"])
    stmt = ordered(stmt, args.get("sort"), {"id": AuditRecord.id}, AuditRecord.id)
    with uow:
        session = uow.session
        page = page_of(session, stmt, args["page"], args["per_page"], lambda record: record)
        actors = {record.actor_id for record in page["items"] if record.actor_id is not None}
        names = {
            user_id: name
            for user_id, name in session.execute(
                select(User.id, User.display_name).where(User.id.in_(actors))
            )
        }
        page["items"] = [dump_record(record, names) for record in page["items"]]
        return page


# -- what the use cases record -------------------------------------------------------------


def code_list(codes: Iterable[str]) -> str:
    """Codes (roles, permissions) as one detail value: sorted, comma-separated, cut to fit
    with a count of those left out."""
    ordered = sorted(set(codes))
    shown = ",".join(ordered)
    if len(shown) <= _DETAIL_VALUE_LENGTH:
        return shown
    kept: list[str] = []
    for code in ordered:
        rest = len(ordered) - len(kept) - 1
        candidate = ",".join([*kept, code]) + f",+{rest}"
        if len(candidate) > _DETAIL_VALUE_LENGTH:
            break
        kept.append(code)
    return ",".join(kept) + f",+{len(ordered) - len(kept)}"
