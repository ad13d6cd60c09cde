"""Rules of customer filing (报备): duplicate check, region rule, approval, protection.

Functions take the session, the caller and validated data. What they need from the
partners service (who covers a region, on which terms) is passed in, so the rules stay
free of RPC; the service fetches it.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any

from rapidfuzz import fuzz, process
from sqlalchemy import and_, delete, select, tuple_
from sqlalchemy.orm import Session

from services.common.approval import FlowInstance, parse_flow
from services.common.context import Caller
from services.common.db import contains_text, insert_unique
from services.common.errors import Conflict, Forbidden, InvalidInput, InvalidState, NotFound
from services.common.schemas import page_of
from services.common.scoping import get_scoped, scoped
from services.common.timeutil import as_utc, iso, utcnow
from services.filing.keys import address_form, customer_keys
from services.filing.models import ApprovalFlow, Customer, CustomerKey, Filing, Transfer
from services.filing.schemas import CustomerOut, FilingOut

Emit = Callable[[str, dict[str, Any]], str]

PENDING, PROTECTED, REJECTED, RELEASED = "pending", "protected", "rejected", "released"
ACTIVE_STATUSES = (PENDING, PROTECTED)
DEFAULT_FILING_FLOW = [
    {
        "name": "渠道经理审批",
        "permission": "filing.approve",
        "mode": "any",
        "approvers": [],
        "condition": None,
    }
]
REMINDER_DAYS = 7
#: A name this close (rapidfuzz WRatio of the normalised names, 0 to 1) to a customer of
#: another partner is shown to the approvers. WRatio compares code points, so one Chinese
#: character weighs as one letter, and it scores a name inside a longer one (西湖科技 in
#: 杭州西湖科技) at 0.9.
NEAR_MATCH_SIMILARITY = 0.85
#: Customers of the same city compared at most (the most recent), and matches kept.
NEAR_MATCH_CANDIDATES = 2000
NEAR_MATCHES_KEPT = 3


# -- serialisation ----------------------------------------------------------------------


def dump_filing(filing: Filing, caller: Caller | None = None) -> dict:
    """The filing; with its near matches only for an HQ caller who approves filings (they
    name other partners' customers)."""
    data = {
        "id": filing.id,
        "customer_id": filing.customer_id,
        "customer_name": filing.customer.name,
        "partner_id": filing.partner_id,
        "status": filing.status,
        "steps": filing.flow["steps"],
        "created_at": filing.created_at,
        "decided_at": filing.decided_at,
    }
    if caller is not None and caller.is_hq and caller.has("filing.approve"):
        data["near_matches"] = filing.near_matches or []
    return FilingOut().dump(data)


def dump_customer(customer: Customer, caller: Caller) -> dict:
    """The customer as ``caller`` may see it: a partner sees only its own filings of it
    (after a transfer, not the previous owner's)."""
    own = [f for f in customer.filings if caller.sees_partner(f.partner_id)]
    latest = own[-1] if own else None
    data = {c: getattr(customer, c) for c in CustomerOut().fields if c != "filing"}
    data["filing"] = None
    result = CustomerOut().dump(data)
    result["filing"] = dump_filing(latest, caller) if latest else None
    return result


def customer_event(customer: Customer, **extra: Any) -> dict:
    return {
        "customer_id": customer.id,
        "customer_name": customer.name,
        "partner_id": customer.owner_partner_id,
        "region_code": customer.region_code,
        "source": customer.source,
        "status": customer.status,
        "protected_until": iso(customer.protected_until),
        **extra,
    }


# -- duplicate check --------------------------------------------------------------------


def _holders(session: Session, keys: list[tuple[str, str]]) -> list[Customer]:
    """Active customers holding any of ``keys``."""
    if not keys:
        return []
    ids = session.scalars(
        select(CustomerKey.customer_id).where(tuple_(CustomerKey.kind, CustomerKey.value).in_(keys))
    ).all()
    if not ids:
        return []
    return list(session.scalars(select(Customer).where(Customer.id.in_(set(ids)))))


def check_conflict(session: Session, caller: Caller, data: dict) -> dict:
    """Would filing this customer conflict? Never says who holds it."""
    caller.require("customer.create")
    holders = _holders(session, customer_keys(data["name"], data.get("uscc"), data.get("phone")))
    return {"conflict": bool(holders)}


def _refuse_duplicates(session: Session, caller: Caller, keys: list[tuple[str, str]]) -> None:
    for holder in _holders(session, keys):
        if holder.owner_partner_id == caller.partner_id:
            raise Conflict(
                "you have already filed this customer",
                "already_filed",
                {"customer_id": [str(holder.id)]},
            )
        raise Conflict("this customer is already filed by another partner", "filing_conflict")


def _claim_keys(session: Session, customer: Customer, keys: list[tuple[str, str]]) -> None:
    """Insert the customer's keys; the primary key refuses a concurrent twin."""
    insert_unique(
        session,
        Conflict("this customer is already filed by another partner", "filing_conflict"),
        *(CustomerKey(kind=kind, value=value, customer_id=customer.id) for kind, value in keys),
    )


def _release_keys(session: Session, customer: Customer) -> None:
    session.execute(delete(CustomerKey).where(CustomerKey.customer_id == customer.id))


def near_matches(session: Session, partner_id: int, data: dict, name_key: str) -> list[dict]:
    """Active customers of other partners in the same city that are close to ``data``
    without sharing a key: a similar name or the same address. (Not the same phone: a
    mobile number is a key, so a filing with a held one is refused before this runs.)

    Bounded: only the city's most recent ``NEAR_MATCH_CANDIDATES`` customers are read
    (region codes of a city share their first four digits: a range of the index)."""
    city = data["region_code"][:4]
    rows = session.execute(
        select(
            Customer.id,
            Customer.name,
            Customer.owner_partner_id,
            Customer.address,
            CustomerKey.value,
        )
        .join(CustomerKey, and_(CustomerKey.customer_id == Customer.id, CustomerKey.kind == "name"))
        .where(
            Customer.region_code >= city,
            Customer.region_code < city[:-1] + chr(ord(city[-1]) + 1),
            Customer.status.in_(ACTIVE_STATUSES),
            Customer.owner_partner_id != partner_id,
        )
        .order_by(Customer.id.desc())
        .limit(NEAR_MATCH_CANDIDATES)
    ).all()
    if not rows:
        return []
    similar = {
        index: score / 100
        for _, score, index in process.extract(
            name_key,
            [row.value for row in rows],
            scorer=fuzz.WRatio,
            score_cutoff=NEAR_MATCH_SIMILARITY * 100,
            limit=None,
        )
    }
    address = address_form(data["address"]) if data.get("address") else ""
    matches = []
    for index, row in enumerate(rows):
        same_address = bool(address) and bool(row.address) and address_form(row.address) == address
        if index not in similar and not same_address:
            continue
        similarity = similar.get(index, fuzz.WRatio(name_key, row.value) / 100)
        reasons = [f"名称相似度 {similarity:.2f}"] + ["地址相同"] * same_address
        matches.append(
            {
                "customer_id": row.id,
                "customer_name": row.name,
                "partner_id": row.owner_partner_id,
                "similarity": round(similarity, 2),
                "same_address": same_address,
                "reason": "，".join(reasons),
            }
        )
    matches.sort(key=lambda m: (m["same_address"], m["similarity"]), reverse=True)
    return matches[:NEAR_MATCHES_KEPT]


# -- filing and approval ----------------------------------------------------------------


def current_flow(session: Session) -> list[dict]:
    row = session.get(ApprovalFlow, "filing")
    return row.steps if row else DEFAULT_FILING_FLOW


def get_flow(session: Session, caller: Caller) -> dict:
    caller.require_hq("flow.manage")
    return {"kind": "filing", "steps": current_flow(session)}


def set_flow(session: Session, caller: Caller, steps: list[dict]) -> dict:
    """HQ replaces the filing flow; filings already running keep the flow they started."""
    caller.require_hq("flow.manage")
    parsed = [step.to_dict() for step in parse_flow(steps, fields=set())]
    row = session.get(ApprovalFlow, "filing")
    if row is None:
        row = ApprovalFlow(kind="filing", steps=parsed, updated_by=caller.user_id)
        session.add(row)
    else:
        row.steps, row.updated_by = parsed, caller.user_id
    return {"kind": "filing", "steps": parsed}


def file_customer(
    session: Session, caller: Caller, data: dict, covering: list[dict], emit: Emit
) -> dict:
    """A partner files a customer inside its territory: the customer is ``pending`` and
    already blocks others; the filing's approval flow starts.

    ``covering``: the active partners whose territory covers the region (partners service).
    """
    caller.require("customer.create")
    if caller.partner_id is None:
        raise Forbidden("customers are filed by partners")
    terms = next((row for row in covering if row["partner_id"] == caller.partner_id), None)
    if terms is None:
        raise InvalidInput(
            "the region is outside your territory",
            "region_not_in_territory",
            {"region_code": ["outside your territory"]},
        )
    keys = customer_keys(data["name"], data.get("uscc"), data.get("phone"))
    _refuse_duplicates(session, caller, keys)
    near = near_matches(session, caller.partner_id, data, dict(keys).get("name", ""))
    customer = Customer(
        **data,
        source="partner",
        status=PENDING,
        owner_partner_id=caller.partner_id,
        protection_days=terms["protection_days"],
    )
    session.add(customer)
    session.flush()
    _claim_keys(session, customer, keys)
    flow = FlowInstance.start(
        parse_flow(current_flow(session)), {}, submitted_by=caller.user_id, started_at=utcnow()
    )
    filing = Filing(
        customer=customer,
        partner_id=caller.partner_id,
        status="pending",
        flow=flow.to_dict(),
        created_by=caller.user_id,
        near_matches=near,
    )
    session.add(filing)
    session.flush()
    emit(
        "filing_submitted",
        customer_event(customer, filing_id=filing.id, step=flow.current.definition.to_dict()),
    )
    return dump_customer(customer, caller)


def _hq_filing(session: Session, caller: Caller, filing_id: int) -> Filing:
    if not caller.is_hq:
        raise Forbidden("filings are decided by headquarters")
    filing = session.get(Filing, filing_id, with_for_update=True)
    if filing is None:
        raise NotFound(f"filing {filing_id} not found")
    return filing


def approve_filing(
    session: Session, caller: Caller, filing_id: int, comment: str | None, now: datetime, emit: Emit
) -> dict:
    """An approver of the current step approves; the last approval protects the customer
    for the partner type's protection days."""
    filing = _hq_filing(session, caller, filing_id)
    flow = FlowInstance.from_dict(filing.flow)
    outcome = flow.approve(
        caller.user_id,
        caller.permissions,
        comment,
        now,
        credentials_set_at=caller.credentials_set_at,
    )
    filing.flow = flow.to_dict()
    customer = filing.customer
    if outcome == "approved":
        filing.status, filing.decided_at = "approved", now
        customer.status = PROTECTED
        customer.protected_until = now + timedelta(days=customer.protection_days)
        emit("filing_approved", customer_event(customer, filing_id=filing.id))
    elif outcome == "step_approved":
        emit(
            "filing_step_waiting",
            customer_event(customer, filing_id=filing.id, step=flow.current.definition.to_dict()),
        )
    return dump_filing(filing)


def reject_filing(
    session: Session, caller: Caller, filing_id: int, comment: str | None, now: datetime, emit: Emit
) -> dict:
    """An approver rejects with a reason; the customer no longer blocks anybody."""
    filing = _hq_filing(session, caller, filing_id)
    flow = FlowInstance.from_dict(filing.flow)
    flow.reject(
        caller.user_id,
        caller.permissions,
        comment or "",
        now,
        credentials_set_at=caller.credentials_set_at,
    )
    filing.flow = flow.to_dict()
    filing.status, filing.decided_at = "rejected", now
    customer = filing.customer
    customer.status = REJECTED
    _release_keys(session, customer)
    emit("filing_rejected", customer_event(customer, filing_id=filing.id, reason=comment))
    return dump_filing(filing)


def list_filings(session: Session, caller: Caller, args: dict) -> dict:
    stmt = scoped(select(Filing), Filing.partner_id, caller).order_by(Filing.id.desc())
    if args.get("status"):
        stmt = stmt.where(Filing.status == args["status"])
    if args.get("partner_id") is not None:
        stmt = stmt.where(Filing.partner_id == args["partner_id"])
    return page_of(session, stmt, args["page"], args["per_page"], lambda f: dump_filing(f, caller))


def get_filing(session: Session, caller: Caller, filing_id: int) -> dict:
    return dump_filing(get_scoped(session, Filing, filing_id, caller), caller)


# -- customers --------------------------------------------------------------------------


def list_customers(session: Session, caller: Caller, args: dict) -> dict:
    stmt = scoped(select(Customer), Customer.owner_partner_id, caller).order_by(Customer.id.desc())
    if args.get("status"):
        stmt = stmt.where(Customer.status == args["status"])
    if args.get("source"):
        stmt = stmt.where(Customer.source == args["source"])
    if args.get("partner_id") is not None:
        stmt = stmt.where(Customer.owner_partner_id == args["partner_id"])
    if args.get("region_code"):
        code = args["region_code"]
        prefix = code[:2] if code.endswith("0000") else code[:4] if code.endswith("00") else code
        stmt = stmt.where(Customer.region_code.startswith(prefix))
    if args.get("q"):
        stmt = stmt.where(
            contains_text(args["q"], Customer.name, Customer.contact_name, Customer.phone)
        )
    return page_of(
        session, stmt, args["page"], args["per_page"], lambda c: dump_customer(c, caller)
    )


def get_customer(session: Session, caller: Caller, customer_id: int) -> dict:
    customer = get_scoped(session, Customer, customer_id, caller, "owner_partner_id")
    return dump_customer(customer, caller)


def owned_customer(session: Session, caller: Caller, customer_id: int) -> dict:
    """The customer, if it is protected for the caller's partner (orders need that)."""
    customer = session.get(Customer, customer_id)
    if (
        customer is None
        or caller.partner_id is None
        or customer.owner_partner_id != caller.partner_id
        or customer.status != PROTECTED
    ):
        raise InvalidInput(
            "the customer is not protected for your partner",
            "customer_not_owned",
            {"customer_id": ["not a protected customer of yours"]},
        )
    return {
        "id": customer.id,
        "name": customer.name,
        "region_code": customer.region_code,
        "source": customer.source,
        "owner_partner_id": customer.owner_partner_id,
        "status": customer.status,
        "protected_until": iso(customer.protected_until),
    }


def transfer_customer(
    session: Session,
    caller: Caller,
    customer_id: int,
    data: dict,
    covering: list[dict],
    now: datetime,
    emit: Emit,
) -> dict:
    """HQ moves a protected customer to another partner covering its region; audited."""
    caller.require_hq("customer.transfer")
    customer = session.get(Customer, customer_id, with_for_update=True)
    if customer is None:
        raise NotFound(f"customer {customer_id} not found")
    if customer.status != PROTECTED:
        raise InvalidState(
            f"only protected customers are transferred; this one is {customer.status}"
        )
    target = data["partner_id"]
    if target == customer.owner_partner_id:
        raise InvalidInput(
            "the customer is already this partner's", errors={"partner_id": ["same partner"]}
        )
    if target not in {row["partner_id"] for row in covering}:
        raise InvalidInput(
            "the partner does not cover the customer's region",
            "region_not_in_territory",
            {"partner_id": ["does not cover the region"]},
        )
    session.add(
        Transfer(
            customer_id=customer.id,
            from_partner_id=customer.owner_partner_id,
            to_partner_id=target,
            reason=data["reason"],
            user_id=caller.user_id,
            at=now,
        )
    )
    previous = customer.owner_partner_id
    customer.owner_partner_id = target
    session.flush()
    emit(
        "customer_transferred",
        customer_event(customer, from_partner_id=previous, reason=data["reason"]),
    )
    return dump_customer(customer, caller)


# -- protection lifecycle ---------------------------------------------------------------


def extend_protection(session: Session, data: dict) -> bool:
    """An approved order extends its customer's protection from the approval date."""
    customer = session.get(Customer, data["customer_id"], with_for_update=True)
    if (
        customer is None
        or customer.status != PROTECTED
        or customer.owner_partner_id != data["partner_id"]
    ):
        return False
    approved_at = as_utc(datetime.fromisoformat(data["approved_at"].replace("Z", "+00:00")))
    until = approved_at + timedelta(days=customer.protection_days)
    if customer.protected_until is None or until > customer.protected_until:
        customer.protected_until = until
        customer.reminder_sent_at = None
        return True
    return False


def remind_protection_ending(
    session: Session, now: datetime, emit: Emit, days: int = REMINDER_DAYS, limit: int = 500
) -> int:
    """Once per protection period, tell the owner a few days before it ends."""
    customers = session.scalars(
        select(Customer)
        .where(
            Customer.status == PROTECTED,
            Customer.reminder_sent_at.is_(None),
            Customer.protected_until <= now + timedelta(days=days),
            Customer.protected_until > now,
        )
        .limit(limit)
    ).all()
    for customer in customers:
        customer.reminder_sent_at = now
        emit("protection_ending", customer_event(customer))
    return len(customers)


def release_expired(session: Session, now: datetime, emit: Emit, limit: int = 500) -> int:
    """Customers whose protection has ended go to the public pool (公海)."""
    customers = session.scalars(
        select(Customer)
        .where(Customer.status == PROTECTED, Customer.protected_until <= now)
        .limit(limit)
    ).all()
    for customer in customers:
        customer.status = RELEASED
        _release_keys(session, customer)
        emit("customer_released", customer_event(customer))
    return len(customers)


def name_matches(session: Session, name: str) -> list[Customer]:
    """Active customers with the same normalised name."""
    return _holders(session, [kv for kv in customer_keys(name, None, None) if kv[0] == "name"])
