"""Customers and their filings (报备): the use cases (check, file, approve, reject, read,
transfer, the approval flow, protection extended by orders), the queries they share
(the duplicate check's key holders, near matches) and what they answer and emit.

Each use case opens ``with uow:`` itself; the partners service is asked before that.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import Any

from marshmallow import Schema
from sqlalchemy import and_, delete, or_, select, tuple_
from sqlalchemy.orm import Session

from services.common import audit, pii
from services.common.approval import FlowInstance, parse_flow
from services.common.context import Caller
from services.common.db import contains_text, insert_unique
from services.common.errors import NotFound
from services.common.events import event_data
from services.common.schemas import dump, ordered, page_of, page_of_rows, shared
from services.common.scoping import get_scoped, scoped
from services.common.timeutil import as_utc, iso, utcnow
from services.common.unit_of_work import UnitOfWork
from services.filing import events, holdings, rules
from services.filing.keys import customer_keys, phone_form
from services.filing.models import (
    ApprovalFlow,
    Customer,
    CustomerKey,
    Extension,
    Filing,
    Transfer,
    address_index,
)
from services.filing.schemas import (
    ACTIVE_STATUSES,
    EXTENSION_PENDING,
    FILING_PENDING,
    FROM_PARTNER,
    PENDING,
    CustomerOut,
    FilingOut,
    RevealOut,
)

#: The fields of a customer that are personal data (masked unless the caller may reveal).
PERSONAL = ("contact_name", "phone", "address")

#: ``partners.partners_covering``: the active partners (with their terms) covering a region.
Covering = Callable[[str], list[dict]]


# -- what is answered and emitted -------------------------------------------------------


def dump_filing(
    filing: Any, caller: Caller | None = None, customer_name: str | None = None
) -> dict:
    """The filing (a ``Filing``, or a row of ``FILING_COLUMNS`` with its customer's name);
    with its near matches only for an HQ caller who approves filings (they name other
    partners' customers)."""
    data = {
        "id": filing.id,
        "customer_id": filing.customer_id,
        "customer_name": filing.customer.name if customer_name is None else customer_name,
        "partner_id": filing.partner_id,
        "status": filing.status,
        "steps": filing.flow["steps"],
        "created_at": filing.created_at,
        "decided_at": filing.decided_at,
    }
    if caller is not None and caller.is_hq and caller.has("filing.approve"):
        data["near_matches"] = [
            match
            for match in filing.near_matches or []
            if caller.sees_partner(match.get("partner_id"))
        ]
    return dump(FilingOut, data)


#: What a list reads of a customer and of a filing: columns, not objects (``list_customers``).
CUSTOMER_COLUMNS = tuple(
    getattr(Customer, name) for name in shared(CustomerOut).fields if name != "filing"
)
FILING_COLUMNS = (
    Filing.id,
    Filing.customer_id,
    Filing.partner_id,
    Filing.status,
    Filing.flow,
    Filing.created_at,
    Filing.decided_at,
    Filing.near_matches,
)


def dump_customer(customer: Customer, caller: Caller) -> dict:
    """The customer as ``caller`` may see it: a partner sees only its own filings of it
    (after a transfer, not the previous owner's)."""
    own = [f for f in customer.filings if caller.sees_partner(f.partner_id)]
    return _customer_answer(customer, own[-1] if own else None, caller)


def _customer_answer(customer: Any, latest: Any, caller: Caller) -> dict:
    """``customer`` (a ``Customer`` or a row of ``CUSTOMER_COLUMNS``) as ``caller`` may see
    it, with ``latest``, the latest of its filings the caller sees (or None)."""
    data = {column.key: getattr(customer, column.key) for column in CUSTOMER_COLUMNS}
    data["filing"] = None
    result = pii.masked(dump(CustomerOut, data), caller, PERSONAL)
    if latest is not None:
        result["filing"] = dump_filing(latest, caller, customer.name)
    return result


def _customers_answer(session: Session, rows: list[Any], caller: Caller) -> list[dict]:
    """A page of customers (rows of ``CUSTOMER_COLUMNS``) as ``caller`` may see them, their
    filings read in one query for the page."""
    latest: dict[int, Any] = {}
    if rows:
        filings = session.execute(
            select(*FILING_COLUMNS)
            .where(Filing.customer_id.in_([row.id for row in rows]))
            .order_by(Filing.id)
        )
        for filing in filings:
            if caller.sees_partner(filing.partner_id):
                latest[filing.customer_id] = filing
    return [_customer_answer(row, latest.get(row.id), caller) for row in rows]


def customer_event(schema: type[Schema], customer: Customer, **extra: Any) -> dict:
    """The data of a customer event of ``schema`` (``services.filing.events``)."""
    return event_data(
        schema,
        {
            "customer_id": customer.id,
            "customer_name": customer.name,
            "partner_id": customer.owner_partner_id,
            "region_code": customer.region_code,
            "source": customer.source,
            "status": customer.status,
            "protected_until": customer.protected_until,
            **extra,
        },
    )


# -- queries the use cases share --------------------------------------------------------


def stored_keys(keys: list[tuple[str, str]]) -> list[tuple[str, str]]:
    """``keys`` as they are stored: a phone as its blind index under the ring's first key
    (``services.common.pii``), never in clear."""
    return [
        (kind, pii.blind_index(pii.PHONE, value) or "" if kind == "phone" else value)
        for kind, value in keys
    ]


def lookup_keys(keys: list[tuple[str, str]]) -> list[tuple[str, str]]:
    """What ``keys`` may be stored as: a phone's blind index under every key of the ring,
    so that keys stored before a key rotation (until ``manage.py reseal``) still block."""
    found: list[tuple[str, str]] = []
    for kind, value in keys:
        if kind == "phone":
            found.extend((kind, index) for index in pii.blind_indexes(pii.PHONE, value))
        else:
            found.append((kind, value))
    return found


def holders(session: Session, keys: list[tuple[str, str]]) -> list[Customer]:
    """Active customers holding any of ``keys`` (as ``customer_keys`` gives them)."""
    if not keys:
        return []
    ids = session.scalars(
        select(CustomerKey.customer_id).where(
            tuple_(CustomerKey.kind, CustomerKey.value).in_(lookup_keys(keys))
        )
    ).all()
    if not ids:
        return []
    return list(session.scalars(select(Customer).where(Customer.id.in_(set(ids)))))


def refuse_duplicates(session: Session, caller: Caller, keys: list[tuple[str, str]]) -> None:
    """Refuses keys an active customer holds (``rules.refuse_duplicates``)."""
    rules.refuse_duplicates(caller, holders(session, keys))


def claim_keys(session: Session, customer: Customer, keys: list[tuple[str, str]]) -> None:
    """Insert the customer's keys; the primary key refuses a concurrent twin."""
    insert_unique(
        session,
        rules.filing_conflict(),
        *(
            CustomerKey(kind=kind, value=value, customer_id=customer.id)
            for kind, value in stored_keys(keys)
        ),
    )


def release_keys(session: Session, customer: Customer) -> None:
    """The customer no longer blocks anybody."""
    session.execute(delete(CustomerKey).where(CustomerKey.customer_id == customer.id))


def near_matches(session: Session, partner_id: int, data: dict, name_key: str) -> list[dict]:
    """Active customers of other partners in the same city that are close to ``data``
    without sharing a key: a similar name or the same address (``rules.near_matches``).
    (Not the same phone: a mobile number is a key, so a filing with a held one is refused
    before this runs.) Addresses are compared by their blind index: none is opened.

    Bounded: only the city's most recent ``NEAR_MATCH_CANDIDATES`` customers are read
    (region codes of a city share their first four digits: a range of the index)."""
    city = data["region_code"][:4]
    rows = session.execute(
        select(
            Customer.id,
            Customer.name,
            Customer.owner_partner_id,
            Customer.address_index,
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
        .limit(rules.NEAR_MATCH_CANDIDATES)
    ).all()
    return rules.near_matches(rows, name_key, address_index(data.get("address")))


def current_flow(session: Session) -> list[dict]:
    """The steps new filings start with."""
    row = session.get(ApprovalFlow, "filing")
    return row.steps if row else rules.DEFAULT_FILING_FLOW


# -- filing and approval ----------------------------------------------------------------


def check_conflict(uow: UnitOfWork, caller: Caller, data: dict) -> dict:
    """Would filing this customer conflict? Never says who holds it."""
    caller.require("customer.create")
    with uow:
        found = holders(
            uow.session, customer_keys(data["name"], data.get("uscc"), data.get("phone"))
        )
        return {"conflict": bool(found)}


def file_customer(uow: UnitOfWork, caller: Caller, data: dict, covering: Covering) -> dict:
    """A partner files a customer inside its territory: the customer is ``pending`` and
    already blocks others; the filing's approval flow starts (``filing_submitted``).
    409 ``claim_limit_reached`` at the partner's cap on the customers it holds."""
    caller.require("customer.create")
    terms = rules.filing_terms(caller, covering(data["region_code"]))
    keys = customer_keys(data["name"], data.get("uscc"), data.get("phone"))
    with uow:
        session = uow.session
        holdings.lock(session, caller.partner_id)
        refuse_duplicates(session, caller, keys)
        holdings.check_room(session, caller.partner_id, terms)
        near = near_matches(session, caller.partner_id, data, dict(keys).get("name", ""))
        customer = Customer(
            **data,
            source=FROM_PARTNER,
            status=PENDING,
            owner_partner_id=caller.partner_id,
            protection_days=terms["protection_days"],
        )
        session.add(customer)
        session.flush()
        claim_keys(session, customer, keys)
        flow = FlowInstance.start(
            parse_flow(current_flow(session)), {}, submitted_by=caller.user_id, started_at=utcnow()
        )
        filing = Filing(
            customer=customer,
            partner_id=caller.partner_id,
            status=FILING_PENDING,
            flow=flow.to_dict(),
            created_by=caller.user_id,
            near_matches=near,
        )
        session.add(filing)
        session.flush()
        uow.emit(
            events.FILING_SUBMITTED,
            customer_event(
                events.FilingWaiting,
                customer,
                filing_id=filing.id,
                step=flow.current.definition.to_dict(),
            ),
        )
        return uow.commit(dump_customer(customer, caller))


def _hq_filing(session: Session, caller: Caller, filing_id: int) -> Filing:
    rules.check_hq_decides(caller)
    filing = session.get(Filing, filing_id, with_for_update=True)
    if filing is None or not caller.sees_partner(filing.partner_id):
        raise NotFound(f"filing {filing_id} not found")
    return filing


def approve_filing(uow: UnitOfWork, caller: Caller, filing_id: int, comment: str | None) -> dict:
    """An approver of the current step approves; the last approval protects the customer
    for the partner type's protection days (``filing_approved``), an earlier one hands the
    filing to the next step (``filing_step_waiting``)."""
    now = utcnow()
    with uow:
        filing = _hq_filing(uow.session, caller, filing_id)
        outcome, flow = rules.approve(filing, caller, comment, now)
        customer = filing.customer
        if outcome == "approved":
            uow.emit(
                events.FILING_APPROVED,
                customer_event(events.FilingDecided, customer, filing_id=filing.id),
            )
        elif outcome == "step_approved":
            uow.emit(
                events.FILING_STEP_WAITING,
                customer_event(
                    events.FilingWaiting,
                    customer,
                    filing_id=filing.id,
                    step=flow.current.definition.to_dict(),
                ),
            )
        return uow.commit(dump_filing(filing))


def reject_filing(uow: UnitOfWork, caller: Caller, filing_id: int, comment: str | None) -> dict:
    """An approver rejects with a reason; the customer no longer blocks anybody
    (``filing_rejected``)."""
    now = utcnow()
    with uow:
        filing = _hq_filing(uow.session, caller, filing_id)
        rules.reject(filing, caller, comment, now)
        customer = filing.customer
        release_keys(uow.session, customer)
        uow.emit(
            events.FILING_REJECTED,
            customer_event(events.FilingRejected, customer, filing_id=filing.id, reason=comment),
        )
        return uow.commit(dump_filing(filing))


def list_filings(uow: UnitOfWork, caller: Caller, args: dict) -> dict:
    """A page of the filings the caller sees, newest first."""
    with uow:
        stmt = scoped(select(Filing), Filing.partner_id, caller).order_by(Filing.id.desc())
        if args.get("status"):
            stmt = stmt.where(Filing.status == args["status"])
        if args.get("partner_id") is not None:
            stmt = stmt.where(Filing.partner_id == args["partner_id"])
        sortable = {
            "id": Filing.id,
            "created_at": Filing.created_at,
            "decided_at": Filing.decided_at,
            "status": Filing.status,
        }
        stmt = ordered(stmt, args.get("sort"), sortable, Filing.id)
        return page_of(
            uow.session, stmt, args["page"], args["per_page"], lambda f: dump_filing(f, caller)
        )


def get_filing(uow: UnitOfWork, caller: Caller, filing_id: int) -> dict:
    """A filing the caller sees; else not found."""
    with uow:
        return dump_filing(get_scoped(uow.session, Filing, filing_id, caller), caller)


def get_flow(uow: UnitOfWork, caller: Caller) -> dict:
    """The filing approval flow (HQ flow managers only)."""
    caller.require_hq("flow.manage")
    with uow:
        return {"kind": "filing", "steps": current_flow(uow.session)}


def set_flow(uow: UnitOfWork, caller: Caller, steps: list[dict]) -> dict:
    """HQ replaces the filing flow; filings already running keep the flow they started."""
    caller.require_hq("flow.manage")
    parsed = [step.to_dict() for step in parse_flow(steps, fields=set())]
    with uow:
        row = uow.session.get(ApprovalFlow, "filing")
        if row is None:
            uow.session.add(ApprovalFlow(kind="filing", steps=parsed, updated_by=caller.user_id))
        else:
            row.steps, row.updated_by = parsed, caller.user_id
        return uow.commit({"kind": "filing", "steps": parsed})


# -- customers --------------------------------------------------------------------------


#: The columns a list of customers sorts by (``CustomerListArgs.sort``): the name is kept
#: in clear (the contact's is sealed and not offered).
CUSTOMER_SORT = {
    "id": Customer.id,
    "name": Customer.name,
    "created_at": Customer.created_at,
    "protected_until": Customer.protected_until,
    "status": Customer.status,
    "region_code": Customer.region_code,
}


def list_customers(uow: UnitOfWork, caller: Caller, args: dict) -> dict:
    """A page of the customers the caller sees, newest first, filtered by ``args``: read as
    rows (``CUSTOMER_COLUMNS``), with one query for the page's filings."""
    stmt = scoped(
        select(*CUSTOMER_COLUMNS), Customer.owner_partner_id, caller, Customer.region_code
    ).order_by(Customer.id.desc())
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
        by_phone = pii.may_reveal(caller)
        stmt = stmt.where(search(args["q"], Customer.name, Customer.phone_index, by_phone))
    stmt = ordered(stmt, args.get("sort"), CUSTOMER_SORT, Customer.id)
    with uow:
        return page_of_rows(
            uow.session,
            stmt,
            args["page"],
            args["per_page"],
            lambda rows: _customers_answer(uow.session, rows, caller),
        )


def search(query: str, name: Any, phone_index: Any, by_phone: bool) -> Any:
    """What a list's ``q`` matches: a part of the name, or the whole phone (compared by its
    blind index; a contact's name and a part of a phone are not searched: they are sealed).

    The phone is searched only for a caller who sees phones unmasked (``by_phone``): for
    anyone else an exact search would turn ``138****8000`` back into the number in at most
    10,000 guesses."""
    indexes = pii.blind_indexes(pii.PHONE, phone_form(query)) if by_phone else []
    if not indexes:
        return contains_text(query, name)
    return or_(contains_text(query, name), phone_index.in_(indexes))


def reveal_customer(uow: UnitOfWork, caller: Caller, customer_id: int, reason: str) -> dict:
    """The contact data of one customer the caller sees, unmasked, for a reason; audited
    (``pii_revealed``) in the same transaction."""
    caller.require(pii.REVEAL)
    with uow:
        customer = _visible_customer(uow.session, caller, customer_id)
        audit.record(
            uow,
            caller,
            audit.PII_REVEALED,
            subject_type="customer",
            subject_id=customer.id,
            detail={"reason": reason},
        )
        return uow.commit(
            dump(
                RevealOut,
                {
                    "id": customer.id,
                    "contact_name": customer.contact_name,
                    "phone": customer.phone,
                    "address": customer.address,
                },
            )
        )


def get_customer(uow: UnitOfWork, caller: Caller, customer_id: int) -> dict:
    """A customer the caller sees; else not found."""
    with uow:
        return dump_customer(_visible_customer(uow.session, caller, customer_id), caller)


def _visible_customer(session: Session, caller: Caller, customer_id: int) -> Customer:
    return get_scoped(
        session, Customer, customer_id, caller, "owner_partner_id", region_attr="region_code"
    )


def owned_customer(uow: UnitOfWork, caller: Caller, customer_id: int) -> dict:
    """The customer, if it is protected for the caller's partner (orders need that);
    else ``customer_not_owned``."""
    with uow:
        customer = rules.check_owned(uow.session.get(Customer, customer_id), caller)
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
    uow: UnitOfWork, caller: Caller, customer_id: int, data: dict, covering: Covering
) -> dict:
    """HQ moves a protected customer to another partner covering its region; audited
    (``customer_transferred``)."""
    caller.require_hq("customer.transfer")
    with uow:
        region = _visible_customer(uow.session, caller, customer_id).region_code
    # Asked before the row is locked: no lock is held across a call to partners. A
    # regional HQ user hands customers to the partners in its sight only.
    partners = [row for row in covering(region) if caller.sees_partner(row["partner_id"])]
    with uow:
        session = uow.session
        customer = session.get(Customer, customer_id, with_for_update=True)
        if customer is None:
            raise NotFound(f"customer {customer_id} not found")
        rules.check_transfer(customer, data["partner_id"], partners)
        transfer(uow, caller, customer, data["partner_id"], data["reason"])
        return uow.commit(dump_customer(customer, caller))


def transfer(uow: UnitOfWork, caller: Caller, customer: Customer, target: int, reason: str) -> None:
    """``customer`` (locked, ``rules.check_transfer`` passed) becomes ``target``'s: the
    transfer is kept, audited and announced (``customer_transferred``). Inside the caller's
    ``with uow:``; the one path of HQ's transfers and a terminated partner's handover."""
    session = uow.session
    session.add(
        Transfer(
            customer_id=customer.id,
            from_partner_id=customer.owner_partner_id,
            to_partner_id=target,
            reason=reason,
            user_id=caller.user_id,
            at=utcnow(),
        )
    )
    previous = customer.owner_partner_id
    customer.owner_partner_id = target
    # The new owner's idle period starts now: it has not had the customer to follow up.
    customer.protection_started_at = utcnow()
    customer.last_follow_up_at = customer.idle_reminder_sent_at = None
    # What the previous owner asked for extends nothing of the new owner's protection.
    cancel_pending(session, customer, utcnow())
    session.flush()
    audit.record(
        uow,
        caller,
        audit.CUSTOMER_TRANSFERRED,
        subject_type="customer",
        subject_id=customer.id,
        detail={"from_partner_id": previous, "to_partner_id": target},
    )
    uow.emit(
        events.CUSTOMER_TRANSFERRED,
        customer_event(
            events.CustomerTransferred, customer, from_partner_id=previous, reason=reason
        ),
    )


def cancel_pending(session: Session, customer: Customer, now: datetime) -> int:
    """``customer`` (locked) left its owner's protection (released or transferred): its
    pending extensions are cancelled. Inside the caller's ``with uow:``; how many."""
    pending = session.scalars(
        select(Extension)
        .where(Extension.customer_id == customer.id, Extension.status == EXTENSION_PENDING)
        .with_for_update()
    ).all()
    for extension in pending:
        rules.cancel_extension(extension, now)
    return len(pending)


# -- protection lifecycle ---------------------------------------------------------------


def extend_protection(
    uow: UnitOfWork, customer_id: int, partner_id: int, approved_at: datetime
) -> bool:
    """An order of ``partner_id`` for ``customer_id`` approved at ``approved_at``
    (``orders.order_approved``) extends the customer's protection from that date if the
    partner owns it; True if it did."""
    with uow:
        customer = uow.session.get(Customer, customer_id, with_for_update=True)
        return uow.commit(rules.extend_protection(customer, partner_id, as_utc(approved_at)))
