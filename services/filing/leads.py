"""Rules of regional lead assignment (经销商区域管理).

A lead goes to the partner whose territory covers its region, the most specific territory
first (district, then city, then province); ties go to the partner with the fewest open
leads, then to the one assigned longest ago (round-robin). A lead matching a customer
protected for a partner goes to that partner. The partner claims it before the deadline,
or declines it; declined and expired leads pass to the next covering partner who has not
had them, or back to the HQ queue.
"""

from __future__ import annotations

import hashlib
import json
import logging
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from services.common.context import Caller
from services.common.db import contains_text, insert_unique
from services.common.errors import (
    Conflict,
    Forbidden,
    InvalidInput,
    InvalidState,
    NotFound,
    ServiceTimeout,
    ServiceUnavailable,
)
from services.common.regions import ADDRESS_RESOLVE_MAX, specificity
from services.common.schemas import page_of
from services.common.scoping import scoped
from services.common.timeutil import iso
from services.filing import domain
from services.filing.keys import customer_keys, normalise_mobile
from services.filing.models import Customer, Lead, LeadEvent, LeadImport
from services.filing.schemas import LeadIn, LeadOut

Emit = Callable[[str, dict[str, Any]], str]
Covering = Callable[[str], list[dict]]
Terms = Callable[[int], dict]

log = logging.getLogger(__name__)

UNASSIGNED, ASSIGNED, CLAIMED = "unassigned", "assigned", "claimed"
DEADLINE_REMINDER_HOURS = 12
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


def dump_lead(lead: Lead, caller: Caller) -> dict:
    """The lead as ``caller`` may see it: a partner sees only its own part of the history
    (not who had the lead before, nor why they declined it)."""
    result = LeadOut().dump(lead)
    if caller.partner_ids is not None:
        result["history"] = [
            entry
            for entry, event in zip(result["history"], lead.history, strict=True)
            if event.partner_id is not None and caller.sees_partner(event.partner_id)
        ]
    return result


def lead_event(lead: Lead, **extra: Any) -> dict:
    return {
        "lead_id": lead.id,
        "lead_name": lead.name,
        "partner_id": lead.assigned_partner_id,
        "region_code": lead.region_code,
        "status": lead.status,
        "claim_deadline": iso(lead.claim_deadline),
        **extra,
    }


class Assigner:
    """Chooses partners for leads; keeps open-lead counts current within one batch.

    What it asks of the partners service (who covers a region, a partner's terms) is asked
    by ``consult`` before the caller writes anything and kept: a write transaction never
    stays open across a call to another service (on SQLite every other writer of the
    service would wait for it; on PostgreSQL its row locks would)."""

    def __init__(self, session: Session, covering: Covering, terms: Terms) -> None:
        self.session = session
        self.covering = covering
        self.terms = terms
        self._covering_cache: dict[str, list[dict]] = {}
        self._terms_cache: dict[int, dict | None] = {}
        self._open: dict[int, int] | None = None
        self._last: dict[int, datetime] | None = None

    def _covering_of(self, region: str) -> list[dict]:
        if region not in self._covering_cache:
            self._covering_cache[region] = self.covering(region)
        return self._covering_cache[region]

    def _terms_of(self, partner_id: int) -> dict | None:
        if partner_id not in self._terms_cache:
            self._terms_cache[partner_id] = self.terms(partner_id)
        return self._terms_cache[partner_id]

    def consult(self, lead: Lead) -> None:
        """Ask the partners service now what routing ``lead`` may need: the partners
        covering its region, and the terms of the partner protected on a customer it
        matches. Reads only; call it before the first write of the transaction."""
        owner = _protected_owner(self.session, lead)
        if owner is not None and owner not in _partners_had(lead):
            self._terms_of(owner)
        if lead.region_code is not None:
            self._covering_of(lead.region_code)

    def _load_stats(self) -> None:
        if self._open is None:
            self._open = dict(
                self.session.execute(
                    select(Lead.assigned_partner_id, func.count())
                    .where(Lead.status == ASSIGNED)
                    .group_by(Lead.assigned_partner_id)
                ).all()
            )
            self._last = dict(
                self.session.execute(
                    select(LeadEvent.partner_id, func.max(LeadEvent.at))
                    .where(LeadEvent.action == "assigned")
                    .group_by(LeadEvent.partner_id)
                ).all()
            )

    def choose(self, region: str | None, excluded: set[int]) -> dict | None:
        """The covering partner for ``region`` (terms included), or None."""
        if region is None:
            return None
        candidates = [c for c in self._covering_of(region) if c["partner_id"] not in excluded]
        if not candidates:
            return None
        best = max(specificity(c["territory_code"]) for c in candidates)
        tied = [c for c in candidates if specificity(c["territory_code"]) == best]
        self._load_stats()
        return min(
            tied,
            key=lambda c: (
                self._open.get(c["partner_id"], 0),
                self._last.get(c["partner_id"]) or _EPOCH,
                c["partner_id"],
            ),
        )

    def assign(self, lead: Lead, terms: dict, now: datetime, user_id: int | None) -> None:
        lead.status = ASSIGNED
        lead.assigned_partner_id = terms["partner_id"]
        lead.assigned_at = now
        lead.claim_deadline = now + timedelta(hours=terms["claim_hours"])
        lead.deadline_reminded_at = None
        lead.protection_days = terms["protection_days"]
        lead.history.append(
            LeadEvent(action="assigned", partner_id=terms["partner_id"], user_id=user_id, at=now)
        )
        self._load_stats()
        self._open[terms["partner_id"]] = self._open.get(terms["partner_id"], 0) + 1
        self._last[terms["partner_id"]] = now

    def route(self, lead: Lead, now: datetime, emit: Emit, user_id: int | None = None) -> bool:
        """Assign ``lead`` to the next partner, or leave it in the HQ queue; True if assigned."""
        had = _partners_had(lead)
        owner = _protected_owner(self.session, lead)
        terms = None
        if owner is not None and owner not in had:
            terms = self._terms_of(owner)
        if terms is None:
            terms = self.choose(lead.region_code, had)
        if terms is None:
            lead.status, lead.assigned_partner_id = UNASSIGNED, None
            lead.claim_deadline = None
            lead.history.append(LeadEvent(action="unassigned", user_id=user_id, at=now))
            emit("lead_unassigned", lead_event(lead))
            return False
        self.assign(lead, terms, now, user_id)
        return True


def _partners_had(lead: Lead) -> set[int]:
    return {e.partner_id for e in lead.history if e.partner_id is not None}


def _protected_owner(session: Session, lead: Lead) -> int | None:
    """The partner protected on a customer this lead matches, if any."""
    keys = customer_keys(lead.name, None, normalise_mobile(lead.phone))
    for holder in domain._holders(session, keys):
        if holder.status == domain.PROTECTED:
            return holder.owner_partner_id
    return None


def resolve_region(data: dict, resolve: Callable[[str], dict]) -> str | None:
    """The lead's region: its code, or the most specific region named in its address."""
    if data.get("region_code"):
        return data["region_code"]
    if data.get("address"):
        # Region names open an address; the resolver reads no further than its cap.
        found = resolve(data["address"][:ADDRESS_RESOLVE_MAX])
        return found.get("district") or found.get("city") or found.get("province")
    return None


def create_lead(
    session: Session,
    caller: Caller,
    data: dict,
    assigner: Assigner,
    resolve: Callable[[str], dict],
    now: datetime,
    emit: Emit,
) -> dict:
    """HQ marketing enters a lead; it is routed at once."""
    caller.require_hq("lead.create")
    lead = _lead_of(caller, data, resolve_region(data, resolve), now)
    assigner.consult(lead)
    _add_lead(session, lead)
    if assigner.route(lead, now, emit, caller.user_id):
        emit("lead_assigned", lead_event(lead))
    session.flush()
    return dump_lead(lead, caller)


def _lead_of(
    caller: Caller, data: dict, region: str | None, now: datetime, import_key: str | None = None
) -> Lead:
    """A new lead, not yet added to the session."""
    lead = Lead(
        **(data | {"region_code": region}),
        status=UNASSIGNED,
        created_by=caller.user_id,
        import_key=import_key,
        created_at=now,
    )
    lead.history = []
    return lead


def _add_lead(session: Session, lead: Lead) -> None:
    session.add(lead)
    session.flush()


def import_leads(
    session: Session,
    caller: Caller,
    rows: list[dict],
    assigner: Assigner,
    resolve: Callable[[str], dict],
    now: datetime,
    emit: Emit,
) -> dict:
    """Create every valid row and route it; invalid rows are reported by their number
    (the header is row 1), none is dropped without a word. No row is imported twice: the
    same file again is refused whole (``_record_import``), and a row imported before (a
    corrected file uploaded again) or earlier in the file is reported, not created."""
    caller.require_hq("lead.create")
    digest = import_digest(rows)  # the rows as sent, before their numbers are taken out
    _refuse_imported(session, digest)
    schema = LeadIn()
    errors, valid = [], []
    for number, row in enumerate(rows, start=2):
        row_number = int(row.pop("_row", number)) if isinstance(row, dict) else number
        problems = schema.validate(row) if isinstance(row, dict) else {"_schema": ["not a row"]}
        if problems:
            errors.append({"row": row_number, "errors": problems})
        else:
            valid.append((row_number, schema.load(row)))
    # Every row's region and routing are asked of partners before the first write.
    new: list[tuple[int, Lead]] = []
    first_of: dict[str, int] = {}
    for row_number, data in valid:
        key = row_key(data)
        if key in first_of:
            errors.append(
                {"row": row_number, "errors": {"_schema": [SAME_AS_ROW.format(first_of[key])]}}
            )
            continue
        first_of[key] = row_number
        earlier = session.scalar(select(Lead.id).where(Lead.import_key == key))
        if earlier is not None:
            errors.append({"row": row_number, "errors": {"_schema": [IMPORTED_AS.format(earlier)]}})
            continue
        try:
            lead = _lead_of(caller, data, resolve_region(data, resolve), now, import_key=key)
            assigner.consult(lead)
        except InvalidInput as exc:
            errors.append({"row": row_number, "errors": exc.errors or {"_schema": [exc.message]}})
            continue
        new.append((row_number, lead))
    record = _record_import(session, caller, digest, now)
    created = assigned = 0
    for row_number, lead in new:
        try:
            with session.begin_nested():
                _add_lead(session, lead)
                routed = assigner.route(lead, now, emit, caller.user_id)
        except InvalidInput as exc:
            errors.append({"row": row_number, "errors": exc.errors or {"_schema": [exc.message]}})
            continue
        except IntegrityError:  # a concurrent import created this row first
            errors.append({"row": row_number, "errors": {"_schema": [IMPORTED]}})
            continue
        created += 1
        if routed:
            assigned += 1
            emit("lead_assigned", lead_event(lead))
    errors.sort(key=lambda error: error["row"])
    if created:
        record.created, record.assigned, record.rejected = created, assigned, len(errors)
    else:
        session.delete(record)  # nothing to protect: the same file may be tried again
    session.flush()
    return {
        "created": created,
        "assigned": assigned,
        "unassigned": created - assigned,
        "errors": errors,
    }


IMPORTED = "this lead was imported already"
IMPORTED_AS = IMPORTED + " (lead {})"
SAME_AS_ROW = "the same lead as row {}"


def row_key(data: dict) -> str:
    """A valid row's fingerprint: its fields as read, whatever its place in the file."""
    canonical = json.dumps(data, sort_keys=True, ensure_ascii=False, default=str)
    return hashlib.sha256(canonical.encode("utf-8")).hexdigest()


def import_digest(rows: list[Any]) -> str:
    """The rows' fingerprint: the same rows in the same places, whatever the file's format."""
    canonical = json.dumps(rows, sort_keys=True, ensure_ascii=False, default=str)
    return hashlib.sha256(canonical.encode("utf-8")).hexdigest()


def _record_import(session: Session, caller: Caller, digest: str, now: datetime) -> LeadImport:
    """Record this import of the rows (by their ``digest``) before the first lead. If the
    same rows were imported already (a retry after a timeout while the first import still
    ran, or the same file uploaded again), refuse: every lead would be created twice. A
    concurrent twin waits for the first import's transaction and is then refused."""
    record = LeadImport(digest=digest, imported_by=caller.user_id, imported_at=now)
    try:
        insert_unique(session, Conflict("already imported"), record)
    except Conflict:
        _refuse_imported(session, record.digest)
        raise _imported_already(None) from None
    return record


def _refuse_imported(session: Session, digest: str) -> None:
    """Refuse rows imported already, before anything is asked of other services."""
    earlier = session.scalar(select(LeadImport).where(LeadImport.digest == digest))
    if earlier is not None:
        raise _imported_already(earlier)


def _imported_already(earlier: LeadImport | None) -> Conflict:
    when = f" on {iso(earlier.imported_at)} ({earlier.created} leads created)" if earlier else ""
    return Conflict(
        f"these rows were imported already{when}; importing them again would create every"
        " lead twice"
    )


def list_leads(session: Session, caller: Caller, args: dict) -> dict:
    """HQ sees every lead; a partner the leads assigned to it (and claimed by it)."""
    stmt = scoped(select(Lead), Lead.assigned_partner_id, caller).order_by(Lead.id.desc())
    if args.get("status"):
        stmt = stmt.where(Lead.status == args["status"])
    if args.get("partner_id") is not None:
        stmt = stmt.where(Lead.assigned_partner_id == args["partner_id"])
    if args.get("q"):
        stmt = stmt.where(contains_text(args["q"], Lead.name, Lead.contact_name, Lead.phone))
    return page_of(session, stmt, args["page"], args["per_page"], lambda x: dump_lead(x, caller))


def _visible_lead(session: Session, caller: Caller, lead_id: int, lock: bool = False) -> Lead:
    # A locked read reads the row afresh, also when this session read it before.
    lead = session.get(Lead, lead_id, with_for_update=lock, populate_existing=lock)
    if lead is None or not caller.sees_partner(lead.assigned_partner_id):
        raise NotFound(f"lead {lead_id} not found")
    return lead


def get_lead(session: Session, caller: Caller, lead_id: int) -> dict:
    return dump_lead(_visible_lead(session, caller, lead_id), caller)


def _own_open_lead(
    session: Session, caller: Caller, lead_id: int, now: datetime, lock: bool = True
) -> Lead:
    caller.require("lead.claim")
    lead = _visible_lead(session, caller, lead_id, lock=lock)
    if lead.assigned_partner_id != caller.partner_id:
        raise Forbidden("only the partner the lead is assigned to may act on it")
    if lead.status != ASSIGNED:
        raise InvalidState(f"the lead is {lead.status}")
    if lead.claim_deadline is not None and lead.claim_deadline <= now:
        raise InvalidState("the claim deadline has passed")
    return lead


def claim_lead(session: Session, caller: Caller, lead_id: int, now: datetime, emit: Emit) -> dict:
    """The assigned partner confirms: the customer becomes theirs, protected, source ``hq``."""
    lead = _own_open_lead(session, caller, lead_id, now)
    phone = normalise_mobile(lead.phone)
    keys = customer_keys(lead.name, None, phone)
    existing = next(
        (
            h
            for h in domain._holders(session, keys)
            if h.owner_partner_id == caller.partner_id and h.status == domain.PROTECTED
        ),
        None,
    )
    if existing is not None:
        customer = existing
    else:
        domain._refuse_duplicates(session, caller, keys)
        customer = Customer(
            name=lead.name,
            contact_name=lead.contact_name,
            phone=phone or lead.phone,
            address=lead.address,
            region_code=lead.region_code or "",
            source="hq",
            status=domain.PROTECTED,
            owner_partner_id=caller.partner_id,
            protection_days=lead.protection_days or 180,
            protected_until=now + timedelta(days=lead.protection_days or 180),
            lead_id=lead.id,
        )
        if not customer.region_code:
            raise InvalidState("the lead has no region; HQ must set one before it is claimed")
        session.add(customer)
        session.flush()
        domain._claim_keys(session, customer, keys)
    lead.status, lead.customer_id = CLAIMED, customer.id
    lead.history.append(
        LeadEvent(action="claimed", partner_id=caller.partner_id, user_id=caller.user_id, at=now)
    )
    session.flush()
    emit("lead_claimed", lead_event(lead, customer_id=customer.id))
    return domain.dump_customer(customer, caller)


def decline_lead(
    session: Session,
    caller: Caller,
    lead_id: int,
    reason: str,
    assigner: Assigner,
    now: datetime,
    emit: Emit,
) -> dict:
    """The assigned partner declines with a reason; the lead moves on."""
    if not reason or not reason.strip():
        raise InvalidInput("a reason is required", errors={"reason": ["required"]})
    # Ask the partners service before locking the row: no lock (nor, on SQLite, the file's
    # write lock) is held across a call. Then lock it and check it again.
    assigner.consult(_own_open_lead(session, caller, lead_id, now, lock=False))
    lead = _own_open_lead(session, caller, lead_id, now)
    lead.history.append(
        LeadEvent(
            action="declined",
            partner_id=caller.partner_id,
            user_id=caller.user_id,
            reason=reason,
            at=now,
        )
    )
    emit("lead_declined", lead_event(lead, reason=reason))
    if assigner.route(lead, now, emit, caller.user_id):
        emit("lead_assigned", lead_event(lead))
    session.flush()
    result = dump_lead(lead, caller)
    if not caller.sees_partner(lead.assigned_partner_id):
        # The lead has left the caller's hands: tell the outcome, not where it went.
        result = {"id": lead.id, "status": "declined"}
    return result


def claims_to_expire(
    session: Session, assigner: Assigner, now: datetime, limit: int = 200
) -> list[Lead]:
    """Leads whose claim deadline has passed and whose next partner is known: what
    ``expire_claims`` moves on. Reads only (the partners service is asked now), so that the
    timer asks before its first write."""
    leads = session.scalars(
        select(Lead)
        .where(Lead.status == ASSIGNED, Lead.claim_deadline <= now)
        .order_by(Lead.claim_deadline)
        .limit(limit)
    ).all()
    ready = []
    for lead in leads:
        try:
            assigner.consult(lead)
        except (ServiceUnavailable, ServiceTimeout) as exc:
            # Partners cannot say who is next: leave the lead for the next tick.
            log.warning("lead %s not moved on: %s", lead.id, exc)
            continue
        ready.append(lead)
    return ready


def expire_claims(
    session: Session, assigner: Assigner, leads: list[Lead], now: datetime, emit: Emit
) -> int:
    """``leads`` (from ``claims_to_expire``) move to the next partner or the HQ queue."""
    done = 0
    for lead in leads:
        try:
            with session.begin_nested():
                expired_partner = lead.assigned_partner_id
                lead.history.append(LeadEvent(action="expired", partner_id=expired_partner, at=now))
                emit("lead_expired", lead_event(lead, partner_id=expired_partner))
                if assigner.route(lead, now, emit):
                    emit("lead_assigned", lead_event(lead))
            done += 1
        except (ServiceUnavailable, ServiceTimeout) as exc:
            # Partners cannot say who is next: leave the lead for the next tick.
            session.expire(lead)
            log.warning("lead %s not moved on: %s", lead.id, exc)
    return done


def remind_claim_deadlines(
    session: Session,
    now: datetime,
    emit: Emit,
    hours: int = DEADLINE_REMINDER_HOURS,
    limit: int = 500,
) -> int:
    """Tell the assigned partner once when a claim deadline is near."""
    leads = session.scalars(
        select(Lead)
        .where(
            Lead.status == ASSIGNED,
            Lead.deadline_reminded_at.is_(None),
            Lead.claim_deadline <= now + timedelta(hours=hours),
            Lead.claim_deadline > now,
        )
        .limit(limit)
    ).all()
    for lead in leads:
        lead.deadline_reminded_at = now
        emit("lead_claim_deadline_near", lead_event(lead))
    return len(leads)
