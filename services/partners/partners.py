"""Partners, their territories and their types: listing and reading them, creating and
changing them, their status, and who covers a region (for filing).

Each use case opens ``with uow:``; the ones that write end with ``uow.commit(answer)`` and
tell what happened with ``uow.emit`` (``events``).
"""

from __future__ import annotations

from sqlalchemy import func, select
from sqlalchemy.orm import Session, joinedload

from services.common import audit, pii
from services.common import regions as region_rules
from services.common.context import Caller
from services.common.db import contains_text, insert_unique
from services.common.errors import Conflict, InvalidInput, NotFound
from services.common.events import event_data
from services.common.schemas import dump, ordered, page_of
from services.common.scoping import get_scoped, scoped
from services.common.unit_of_work import UnitOfWork
from services.partners import events, rules
from services.partners.grades import grade_for_partner
from services.partners.models import Partner, PartnerGrade, PartnerType, TerritoryRegion
from services.partners.regions import load_regions
from services.partners.schemas import (
    ACTIVE,
    SUSPENDED,
    TERMINATED,
    PartnerOut,
    PartnerTypeOut,
)

#: The event told when a partner enters each status.
_STATUS_EVENTS = {
    SUSPENDED: events.PARTNER_SUSPENDED,
    ACTIVE: events.PARTNER_ACTIVATED,
    TERMINATED: events.PARTNER_TERMINATED,
}


def dump_partner(partner: Partner, caller: Caller) -> dict:
    """The partner as the API shows it to ``caller``: its contact's name, phone and e-mail
    masked unless the caller may reveal personal data."""
    return pii.masked(
        dump(PartnerOut, partner), caller, ("contact_name", "contact_phone", "contact_email")
    )


def _tell(uow: UnitOfWork, kind: str, partner: Partner, handover: dict | None = None) -> None:
    """Emit a partner event of ``kind`` about ``partner`` (with the ``handover`` of a
    termination)."""
    if handover is None:
        uow.emit(kind, event_data(events.PartnerChanged, partner))
        return
    values = {
        name: getattr(partner, name)
        for name in events.PartnerChanged._declared_fields
        if name != "handover"
    }
    uow.emit(kind, event_data(events.PartnerChanged, values | {"handover": handover}))


def _tell_territory(uow: UnitOfWork, partner: Partner) -> None:
    """Emit ``territory_changed``: what a copy of territories needs of ``partner``."""
    values = {
        "partner_id": partner.id,
        "code": partner.code,
        "type": partner.type,
        "status": partner.status,
        "parent_id": partner.parent_id,
        "territory": partner.territory,
    }
    uow.emit(events.TERRITORY_CHANGED, event_data(events.TerritoryChanged, values))


def _set_territory(partner: Partner, codes: list[str]) -> None:
    partner.territory_rows = [TerritoryRegion(region_code=code) for code in codes]


def _partner_type(session: Session, code: str) -> PartnerType:
    partner_type = session.get(PartnerType, code)
    if partner_type is None:
        raise InvalidInput(
            "unknown partner type",
            "unknown_partner_type",
            {"type": [f"unknown partner type {code}"]},
        )
    return partner_type


def _check_parent(
    session: Session, caller: Caller, partner: Partner | None, parent_id: int | None
) -> None:
    """InvalidInput unless ``parent_id`` names a partner the caller sees that is not
    terminated and is not ``partner`` itself or below it."""
    if parent_id is None:
        return
    parent = session.get(Partner, parent_id)
    if parent is None or not caller.sees_partner(parent.id):
        raise InvalidInput("unknown parent partner", errors={"parent_id": ["unknown partner"]})
    if parent.status == TERMINATED:
        raise InvalidInput("the parent is terminated", errors={"parent_id": ["terminated"]})
    if partner is not None:
        # Walk up from the new parent: meeting the partner itself would make a cycle.
        node: Partner | None = parent
        while node is not None:
            if node.id == partner.id:
                raise InvalidInput(
                    "a partner cannot be below itself",
                    errors={"parent_id": ["would create a cycle"]},
                )
            node = session.get(Partner, node.parent_id) if node.parent_id else None


# -- reading ----------------------------------------------------------------------------


def list_partners(uow: UnitOfWork, caller: Caller, args: dict) -> dict:
    """A page of the partners the caller may see: HQ all, a partner user its own scope."""
    stmt = scoped(select(Partner), Partner.id, caller).order_by(Partner.id)
    if args.get("status"):
        stmt = stmt.where(Partner.status == args["status"])
    if args.get("type"):
        stmt = stmt.where(Partner.type == args["type"])
    if args.get("parent_id") is not None:
        stmt = stmt.where(Partner.parent_id == args["parent_id"])
    if args.get("q"):
        stmt = stmt.where(contains_text(args["q"], Partner.name, Partner.code))
    if args.get("region_code"):
        covering = [*region_rules.ancestors(args["region_code"]), args["region_code"]]
        stmt = stmt.where(
            Partner.id.in_(
                select(TerritoryRegion.partner_id).where(TerritoryRegion.region_code.in_(covering))
            )
        )
    sortable = {
        "id": Partner.id,
        "code": Partner.code,
        "name": Partner.name,
        "status": Partner.status,
        "created_at": Partner.created_at,
    }
    stmt = ordered(stmt, args.get("sort"), sortable, Partner.id)
    with uow:
        return page_of(
            uow.session, stmt, args["page"], args["per_page"], lambda p: dump_partner(p, caller)
        )


def get_partner(uow: UnitOfWork, caller: Caller, partner_id: int) -> dict:
    """A partner in the caller's scope; NotFound otherwise."""
    with uow:
        # The territory in the same query: one round trip to the database, not two.
        partner = get_scoped(
            uow.session,
            Partner,
            partner_id,
            caller,
            "id",
            options=[joinedload(Partner.territory_rows)],
        )
        return dump_partner(partner, caller)


def _terms(
    partner: Partner,
    partner_type: PartnerType,
    grade: PartnerGrade | None,
    territory_code: str | None,
) -> dict:
    """What filing holds a partner to: from its type, and from its grade where it has one
    (a grade's protection days replace the type's; without a grade there is no cap and the
    lead weight is 1)."""
    return {
        "partner_id": partner.id,
        "code": partner.code,
        "type": partner.type,
        "territory_code": territory_code,
        "specificity": region_rules.specificity(territory_code) if territory_code else 0,
        "protection_days": (
            grade.protection_days
            if grade is not None and grade.protection_days is not None
            else partner_type.protection_days
        ),
        "claim_hours": partner_type.claim_hours,
        "grade": grade.code if grade is not None else None,
        "max_protected_customers": grade.max_protected_customers if grade is not None else None,
        "lead_weight": grade.lead_weight if grade is not None else 1,
        "idle_release_days": partner_type.idle_release_days,
        "reclaim_cooldown_days": partner_type.reclaim_cooldown_days,
    }


def partner_terms(uow: UnitOfWork, partner_id: int) -> dict | None:
    """An active partner's terms (``_terms``): protection days, claim hours, its grade's
    cap and lead weight, its type's idle release and cooldown; None if not active."""
    with uow:
        session = uow.session
        partner = session.get(Partner, partner_id)
        if partner is None or partner.status != ACTIVE:
            return None
        grade = session.get(PartnerGrade, partner.grade) if partner.grade else None
        return _terms(partner, session.get(PartnerType, partner.type), grade, None)


def partners_covering(uow: UnitOfWork, region_code: str) -> list[dict]:
    """Active partners whose territory covers ``region_code``, most specific first;
    InvalidInput (``unknown_region``) for a code not in the dictionary."""
    if not load_regions().exists(region_code):
        raise InvalidInput(
            "unknown region code",
            "unknown_region",
            {"region_code": [f"unknown region code {region_code}"]},
        )
    candidates = [*region_rules.ancestors(region_code), region_code]
    with uow:
        rows = uow.session.execute(
            select(Partner, TerritoryRegion.region_code, PartnerType, PartnerGrade)
            .join(TerritoryRegion, TerritoryRegion.partner_id == Partner.id)
            .join(PartnerType, PartnerType.code == Partner.type)
            .outerjoin(PartnerGrade, PartnerGrade.code == Partner.grade)
            .where(TerritoryRegion.region_code.in_(candidates), Partner.status == ACTIVE)
        ).all()
        found = [
            _terms(partner, partner_type, grade, territory_code)
            for partner, territory_code, partner_type, grade in rows
            if region_rules.covers(territory_code, region_code)
        ]
    return sorted(found, key=lambda row: (-row["specificity"], row["partner_id"]))


# -- changing ---------------------------------------------------------------------------


def create_partner(uow: UnitOfWork, caller: Caller, data: dict) -> dict:
    """HQ creates a partner with its territory; its code is unique (whatever its case)."""
    caller.require_hq("partner.manage")
    with uow:
        session = uow.session
        _partner_type(session, data["type"])
        grade_for_partner(session, data.get("grade"))
        _check_parent(session, caller, None, data.get("parent_id"))
        taken = select(Partner.id).where(func.lower(Partner.code) == data["code"].lower())
        if session.scalar(taken):
            raise Conflict("a partner with this code exists", "partner_code_taken")
        territory = rules.normalise_territory(data.pop("territory", []), load_regions())
        rules.check_territory_in_regions(caller, territory)
        partner = Partner(**data, status=ACTIVE)
        _set_territory(partner, territory)
        insert_unique(
            session, Conflict("a partner with this code exists", "partner_code_taken"), partner
        )
        _tell(uow, events.PARTNER_CREATED, partner)
        _tell_territory(uow, partner)
        return uow.commit(dump_partner(partner, caller))


def update_partner(uow: UnitOfWork, caller: Caller, partner_id: int, data: dict) -> dict:
    """HQ changes a partner that is not terminated; a new type, grade or parent is
    checked."""
    caller.require_hq("partner.manage")
    with uow:
        session = uow.session
        partner = get_scoped(session, Partner, partner_id, caller, "id")
        rules.check_changeable(partner)
        if "type" in data:
            _partner_type(session, data["type"])
        if "grade" in data:
            grade_for_partner(session, data["grade"])
        if "parent_id" in data:
            _check_parent(session, caller, partner, data["parent_id"])
        for key, value in data.items():
            setattr(partner, key, value)
        session.flush()
        _tell(uow, events.PARTNER_UPDATED, partner)
        if "type" in data or "parent_id" in data:
            _tell_territory(uow, partner)
        return uow.commit(dump_partner(partner, caller))


def set_territory(uow: UnitOfWork, caller: Caller, partner_id: int, codes: list[str]) -> dict:
    """HQ replaces the territory of a partner that is not terminated."""
    caller.require_hq("partner.manage")
    with uow:
        session = uow.session
        partner = get_scoped(session, Partner, partner_id, caller, "id")
        rules.check_changeable(partner)
        territory = rules.normalise_territory(codes, load_regions())
        rules.check_territory_in_regions(caller, territory)
        _set_territory(partner, territory)
        session.flush()
        _tell_territory(uow, partner)
        return uow.commit(dump_partner(partner, caller))


def change_status(
    uow: UnitOfWork, caller: Caller, partner_id: int, action: str, data: dict | None = None
) -> dict:
    """Suspend, activate or terminate (``rules.status_after``). A suspended or terminated
    partner's users are refused from their next request on (the caller is resolved on
    every request). A termination carries its handover (``rules.handover_of`` of ``data``,
    a ``TerminateIn``) in ``partner_terminated``, for filing and orders to carry out."""
    caller.require_hq("partner.manage")
    with uow:
        session = uow.session
        partner = get_scoped(session, Partner, partner_id, caller, "id")
        partner.status = rules.status_after(partner, action)
        handover = None
        if partner.status == TERMINATED:
            receiver_id = (data or {}).get("to_partner_id")
            receiver = session.get(Partner, receiver_id) if receiver_id is not None else None
            if receiver is not None and not caller.sees_partner(receiver.id):
                receiver = None  # a partner out of a regional user's sight: unknown
            handover = rules.handover_of(partner, data or {}, receiver)
        session.flush()
        _tell(uow, _STATUS_EVENTS[partner.status], partner, handover)
        _tell_territory(uow, partner)
        if partner.status == TERMINATED:
            audit.record(
                uow,
                caller,
                audit.PARTNER_TERMINATED,
                subject_type="partner",
                subject_id=partner.id,
                # The handover is audited where it happens: each transfer and release.
                detail={"code": partner.code, "type": partner.type},
            )
        return uow.commit(dump_partner(partner, caller))


# -- partner types ----------------------------------------------------------------------


def list_partner_types(uow: UnitOfWork) -> list[dict]:
    """Every partner type, by code."""
    with uow:
        types = uow.session.scalars(select(PartnerType).order_by(PartnerType.code)).all()
        return [dump(PartnerTypeOut, t) for t in types]


def update_partner_type(uow: UnitOfWork, caller: Caller, code: str, data: dict) -> dict:
    """HQ changes a partner type's name, protection days, claim hours, idle release days
    or reclaim cooldown."""
    caller.require_hq("partner.manage")
    caller.require_national()
    with uow:
        session = uow.session
        partner_type = session.get(PartnerType, code)
        if partner_type is None:
            raise NotFound(f"partner type {code} not found")
        for key, value in data.items():
            setattr(partner_type, key, value)
        session.flush()
        uow.emit(events.PARTNER_TYPE_CHANGED, event_data(events.PartnerTypeChanged, partner_type))
        return uow.commit(dump(PartnerTypeOut, partner_type))
