"""Rules of partners, their territories and types.

Functions take the session, the caller and validated data; they raise typed errors and
tell what happened through ``emit`` (the outbox), in the same transaction.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from services.common import regions as region_rules
from services.common.context import Caller
from services.common.db import contains_text, insert_unique
from services.common.errors import Conflict, InvalidInput, InvalidState, NotFound
from services.common.schemas import page_of
from services.common.scoping import get_scoped, scoped
from services.partners.models import Partner, PartnerType, TerritoryRegion
from services.partners.regions import load_regions
from services.partners.schemas import PartnerOut, PartnerTypeOut

Emit = Callable[[str, dict[str, Any]], str]

ACTIVE, SUSPENDED, TERMINATED = "active", "suspended", "terminated"


def dump_partner(partner: Partner) -> dict:
    return PartnerOut().dump(partner)


# -- territory --------------------------------------------------------------------------


def normalise_territory(codes: Iterable[str]) -> list[str]:
    """Known region codes, without duplicates or codes already covered by another one.

    A territory of 330000 and 330100 is the same as 330000 alone.
    """
    dictionary = load_regions()
    unique = sorted(set(codes))
    unknown = [code for code in unique if not dictionary.exists(code)]
    if unknown:
        raise InvalidInput(
            "unknown region codes",
            "unknown_region",
            {"territory": [f"unknown region code {code}" for code in unknown]},
        )
    return [
        code
        for code in unique
        if not any(other != code and region_rules.covers(other, code) for other in unique)
    ]


def _set_territory(partner: Partner, codes: list[str]) -> None:
    partner.territory_rows = [TerritoryRegion(region_code=code) for code in codes]


def territory_event(partner: Partner) -> dict:
    return {
        "partner_id": partner.id,
        "code": partner.code,
        "type": partner.type,
        "status": partner.status,
        "parent_id": partner.parent_id,
        "territory": partner.territory,
    }


# -- partners ---------------------------------------------------------------------------


def _partner_type(session: Session, code: str) -> PartnerType:
    partner_type = session.get(PartnerType, code)
    if partner_type is None:
        raise InvalidInput(
            "unknown partner type",
            "unknown_partner_type",
            {"type": [f"unknown partner type {code}"]},
        )
    return partner_type


def _check_parent(session: Session, partner: Partner | None, parent_id: int | None) -> None:
    if parent_id is None:
        return
    parent = session.get(Partner, parent_id)
    if parent is None:
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


def list_partners(session: Session, caller: Caller, args: dict) -> dict:
    """Partners the caller may see: HQ all, a partner user its own scope."""
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
    return page_of(session, stmt, args["page"], args["per_page"], dump_partner)


def get_partner(session: Session, caller: Caller, partner_id: int) -> dict:
    return dump_partner(get_scoped(session, Partner, partner_id, caller, "id"))


def create_partner(session: Session, caller: Caller, data: dict, emit: Emit) -> dict:
    """HQ creates a partner with its territory; its code is unique."""
    caller.require_hq("partner.manage")
    _partner_type(session, data["type"])
    _check_parent(session, None, data.get("parent_id"))
    if session.scalar(select(Partner.id).where(func.lower(Partner.code) == data["code"].lower())):
        raise Conflict("a partner with this code exists", "partner_code_taken")
    territory = normalise_territory(data.pop("territory", []))
    partner = Partner(**data, status=ACTIVE)
    _set_territory(partner, territory)
    insert_unique(
        session, Conflict("a partner with this code exists", "partner_code_taken"), partner
    )
    emit("partner_created", dump_partner(partner))
    emit("territory_changed", territory_event(partner))
    return dump_partner(partner)


def update_partner(
    session: Session, caller: Caller, partner_id: int, data: dict, emit: Emit
) -> dict:
    caller.require_hq("partner.manage")
    partner = get_scoped(session, Partner, partner_id, caller, "id")
    if partner.status == TERMINATED:
        raise InvalidState("a terminated partner cannot be changed")
    if "type" in data:
        _partner_type(session, data["type"])
    if "parent_id" in data:
        _check_parent(session, partner, data["parent_id"])
    for key, value in data.items():
        setattr(partner, key, value)
    session.flush()
    emit("partner_updated", dump_partner(partner))
    if "type" in data or "parent_id" in data:
        emit("territory_changed", territory_event(partner))
    return dump_partner(partner)


def set_territory(
    session: Session, caller: Caller, partner_id: int, codes: list[str], emit: Emit
) -> dict:
    caller.require_hq("partner.manage")
    partner = get_scoped(session, Partner, partner_id, caller, "id")
    if partner.status == TERMINATED:
        raise InvalidState("a terminated partner cannot be changed")
    _set_territory(partner, normalise_territory(codes))
    session.flush()
    emit("territory_changed", territory_event(partner))
    return dump_partner(partner)


_TRANSITIONS = {
    "suspend": ({ACTIVE}, SUSPENDED, "partner_suspended"),
    "activate": ({SUSPENDED}, ACTIVE, "partner_activated"),
    "terminate": ({ACTIVE, SUSPENDED}, TERMINATED, "partner_terminated"),
}


def change_status(
    session: Session, caller: Caller, partner_id: int, action: str, emit: Emit
) -> dict:
    """Suspend, activate or terminate. A suspended or terminated partner's users are
    refused from their next request on (the caller is resolved on every request)."""
    caller.require_hq("partner.manage")
    partner = get_scoped(session, Partner, partner_id, caller, "id")
    allowed_from, to_status, event_type = _TRANSITIONS[action]
    if partner.status not in allowed_from:
        raise InvalidState(f"cannot {action} a partner that is {partner.status}")
    partner.status = to_status
    session.flush()
    emit(event_type, dump_partner(partner))
    emit("territory_changed", territory_event(partner))
    return dump_partner(partner)


def _terms(partner: Partner, partner_type: PartnerType, territory_code: str | None) -> dict:
    return {
        "partner_id": partner.id,
        "code": partner.code,
        "type": partner.type,
        "territory_code": territory_code,
        "specificity": region_rules.specificity(territory_code) if territory_code else 0,
        "protection_days": partner_type.protection_days,
        "claim_hours": partner_type.claim_hours,
    }


def partner_terms(session: Session, partner_id: int) -> dict | None:
    """An active partner's protection days and claim hours; None if not active."""
    partner = session.get(Partner, partner_id)
    if partner is None or partner.status != ACTIVE:
        return None
    return _terms(partner, session.get(PartnerType, partner.type), None)


def partners_covering(session: Session, region_code: str) -> list[dict]:
    """Active partners whose territory covers ``region_code``, most specific first."""
    if not load_regions().exists(region_code):
        raise InvalidInput(
            "unknown region code",
            "unknown_region",
            {"region_code": [f"unknown region code {region_code}"]},
        )
    candidates = [*region_rules.ancestors(region_code), region_code]
    rows = session.execute(
        select(Partner, TerritoryRegion.region_code, PartnerType)
        .join(TerritoryRegion, TerritoryRegion.partner_id == Partner.id)
        .join(PartnerType, PartnerType.code == Partner.type)
        .where(TerritoryRegion.region_code.in_(candidates), Partner.status == ACTIVE)
    ).all()
    found = [
        _terms(partner, partner_type, territory_code)
        for partner, territory_code, partner_type in rows
        if region_rules.covers(territory_code, region_code)
    ]
    return sorted(found, key=lambda row: (-row["specificity"], row["partner_id"]))


# -- partner types ----------------------------------------------------------------------


def list_partner_types(session: Session) -> list[dict]:
    types = session.scalars(select(PartnerType).order_by(PartnerType.code)).all()
    return [PartnerTypeOut().dump(t) for t in types]


def update_partner_type(
    session: Session, caller: Caller, code: str, data: dict, emit: Emit
) -> dict:
    caller.require_hq("partner.manage")
    partner_type = session.get(PartnerType, code)
    if partner_type is None:
        raise NotFound(f"partner type {code} not found")
    for key, value in data.items():
        setattr(partner_type, key, value)
    session.flush()
    result = PartnerTypeOut().dump(partner_type)
    emit("partner_type_changed", result)
    return result


# -- regions ----------------------------------------------------------------------------


def list_regions(parent: str | None) -> list[dict]:
    dictionary = load_regions()
    if parent is not None and not dictionary.exists(parent):
        raise NotFound(f"region {parent} not found")
    return [
        {"code": r.code, "name": r.name, "level": r.level, "parent": r.parent or None}
        for r in dictionary.children(parent)
    ]


def region_names(codes: list[str]) -> dict[str, str]:
    """The names of the regions among ``codes`` (codes not in the dictionary are left out)."""
    dictionary = load_regions()
    return {code: region.name for code in codes if (region := dictionary.get(code)) is not None}


def resolve_address(address: str) -> dict:
    return load_regions().resolve(address)
