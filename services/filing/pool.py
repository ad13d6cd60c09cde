"""The public pool (公海): customers given back or no longer protected, which partners
covering their region may claim. The use cases (release, list, claim) and the one path
every release takes (``release``: the owner's, idle release and the end of a protection).

The partners service is asked before ``with uow:`` blocks that write: no row lock is held
across a call.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime

from sqlalchemy import ColumnElement, func, select
from sqlalchemy.orm import Session

from services.common import audit, pii
from services.common.context import Caller
from services.common.errors import NotFound
from services.common.schemas import dump, ordered, page_of
from services.common.scoping import in_regions, region_scoped
from services.common.timeutil import utcnow
from services.common.unit_of_work import UnitOfWork
from services.filing import customers, events, holdings, rules
from services.filing.customers import Covering
from services.filing.keys import customer_keys
from services.filing.models import Customer, PoolMove
from services.filing.schemas import (
    BY_OWNER,
    POOL_CLAIMED,
    POOL_RELEASED,
    RELEASED,
    PoolCustomerOut,
)

#: ``partners.get_partner`` as the caller: its partner with ``territory`` (region codes).
GetPartner = Callable[[int], dict]


# -- the one path of a release -----------------------------------------------------------


def release(
    uow: UnitOfWork,
    caller: Caller,
    customer: Customer,
    kind: str,
    reason: str,
    now: datetime,
) -> None:
    """``customer`` (protected, locked or held by the advisory lock) goes to the pool: its
    keys no longer block anybody, the partner that held it is remembered for its cooldown
    (``PoolMove``), audited and announced (``customer_released``). Inside the caller's
    ``with uow:``. Its pending extensions (延期申请) are cancelled: there is no protection
    left to extend."""
    partner_id = customer.owner_partner_id
    rules.release(customer, now)
    customers.cancel_pending(uow.session, customer, now)
    customers.release_keys(uow.session, customer)
    uow.session.add(
        PoolMove(
            customer_id=customer.id,
            partner_id=partner_id,
            action=POOL_RELEASED,
            kind=kind,
            reason=reason,
            user_id=caller.user_id,
            at=now,
        )
    )
    audit.record(
        uow,
        caller,
        audit.CUSTOMER_RELEASED,
        subject_type="customer",
        subject_id=customer.id,
        detail={"partner_id": partner_id, "kind": kind, "reason": reason},
    )
    uow.emit(
        events.CUSTOMER_RELEASED,
        customers.customer_event(events.CustomerReleased, customer, kind=kind, reason=reason),
    )


def release_customer(uow: UnitOfWork, caller: Caller, customer_id: int, reason: str) -> dict:
    """The partner holding a protected customer gives it back to the pool, with a reason;
    it may not claim it again for its type's ``reclaim_cooldown_days``."""
    caller.require("customer.create")
    now = utcnow()
    with uow:
        session = uow.session
        customer = session.get(Customer, customer_id, with_for_update=True, populate_existing=True)
        if customer is None or not caller.sees_partner(customer.owner_partner_id):
            raise NotFound(f"customer {customer_id} not found")
        rules.check_releasable(customer, caller)
        release(uow, caller, customer, BY_OWNER, reason, now)
        session.flush()
        return uow.commit(customers.dump_customer(customer, caller))


# -- what partners see of the pool ---------------------------------------------------------


def dump_pool_customer(customer: Customer, last_holder: int | None, caller: Caller) -> dict:
    """A customer of the pool: its contact data masked for everyone who may not reveal it
    (a partner always: it does not hold the customer), and who held it last for HQ only."""
    data = {
        c: getattr(customer, c)
        for c in PoolCustomerOut._declared_fields
        if c != "released_by_partner_id"
    }
    # HQ learns who held it last, if that partner is in its sight (regional HQ staff).
    seen = caller.is_hq and last_holder is not None and caller.sees_partner(last_holder)
    data["released_by_partner_id"] = last_holder if seen else None
    shown_to = caller if caller.is_hq else None
    return pii.masked(dump(PoolCustomerOut, data), shown_to, customers.PERSONAL)


def region_filter(codes: list[str]) -> ColumnElement[bool]:
    """The condition of a customer whose region one of ``codes`` covers."""
    return in_regions(Customer.region_code, codes)


def list_pool(uow: UnitOfWork, caller: Caller, args: dict, get_partner: GetPartner) -> dict:
    """A page of the pool, newest release first: a partner with ``pool.claim`` sees the
    released customers its territory covers, HQ all of them (as it reads every customer:
    the catalogue has no permission to read customers)."""
    if caller.is_hq:
        territory = None
    else:
        caller.require("pool.claim")
        territory = list(get_partner(caller.partner_id).get("territory") or [])
    stmt = region_scoped(
        select(Customer).where(Customer.status == RELEASED), Customer.region_code, caller
    )
    if territory is not None:
        stmt = stmt.where(region_filter(territory))
    if args.get("region_code"):
        stmt = stmt.where(region_filter([args["region_code"]]))
    if args.get("industry"):
        stmt = stmt.where(Customer.industry == args["industry"])
    if args.get("q"):
        stmt = stmt.where(customers.search(args["q"], Customer.name, Customer.phone_index, False))
    stmt = stmt.order_by(Customer.released_at.desc(), Customer.id.desc())
    sortable = {
        "id": Customer.id,
        "name": Customer.name,
        "region_code": Customer.region_code,
        "released_at": Customer.released_at,
    }
    stmt = ordered(stmt, args.get("sort"), sortable, Customer.id)
    with uow:
        session = uow.session
        page = page_of(session, stmt, args["page"], args["per_page"], lambda c: c)
        holders = last_holders(session, [c.id for c in page["items"]])
        page["items"] = [dump_pool_customer(c, holders.get(c.id), caller) for c in page["items"]]
        return page


def last_holders(session: Session, customer_ids: list[int]) -> dict[int, int]:
    """The partner that last released each of ``customer_ids``."""
    if not customer_ids:
        return {}
    latest = (
        select(PoolMove.customer_id, func.max(PoolMove.id).label("id"))
        .where(PoolMove.customer_id.in_(customer_ids), PoolMove.action == POOL_RELEASED)
        .group_by(PoolMove.customer_id)
        .subquery()
    )
    rows = session.execute(
        select(PoolMove.customer_id, PoolMove.partner_id).join(latest, latest.c.id == PoolMove.id)
    ).all()
    return {customer_id: partner_id for customer_id, partner_id in rows}


# -- claiming ---------------------------------------------------------------------------------


def _pool_customer(session: Session, customer_id: int, lock: bool) -> Customer:
    """A customer that is or was in the pool (it was released once); else not found.
    Whether the caller's territory covers it is checked with its terms."""
    customer = session.get(Customer, customer_id, with_for_update=lock, populate_existing=lock)
    if customer is None or customer.released_at is None:
        raise NotFound(f"customer {customer_id} not found")
    return customer


def claim_customer(uow: UnitOfWork, caller: Caller, customer_id: int, covering: Covering) -> dict:
    """A partner covering its region claims a customer from the pool: it is the partner's,
    protected at once for its protection days, source ``partner`` (``customer_claimed``).
    Of two claims at once the row lock lets one through; the other finds it claimed (409
    ``already_claimed``, as does a claim of a customer taken from the pool since).
    409 ``claim_limit_reached`` at the partner's cap, 409 ``cooldown`` when it released
    the customer too recently; 404 outside its territory or never in the pool."""
    caller.require("pool.claim")
    if caller.partner_id is None:
        raise NotFound(f"customer {customer_id} not found")
    with uow:
        region = _pool_customer(uow.session, customer_id, lock=False).region_code
    # Asked before the row is locked: no lock is held across a call to partners.
    terms = next((row for row in covering(region) if row["partner_id"] == caller.partner_id), None)
    if terms is None:
        raise NotFound(f"customer {customer_id} not found")
    now = utcnow()
    with uow:
        session = uow.session
        # The partner's claims take turns: two claims of different customers at once would
        # both count the holdings before either is in, and end one past the cap.
        holdings.lock(session, caller.partner_id)
        customer = _pool_customer(session, customer_id, lock=True)
        held = holdings.held(session, caller.partner_id)
        last_release = session.scalar(
            select(func.max(PoolMove.at)).where(
                PoolMove.customer_id == customer.id,
                PoolMove.partner_id == caller.partner_id,
                PoolMove.action == POOL_RELEASED,
            )
        )
        rules.check_claim(customer, terms, held, last_release, now)
        keys = customer_keys(customer.name, customer.uscc, customer.phone)
        customers.claim_keys(session, customer, keys)
        rules.claim_from_pool(customer, caller.partner_id, terms["protection_days"], now)
        session.add(
            PoolMove(
                customer_id=customer.id,
                partner_id=caller.partner_id,
                action=POOL_CLAIMED,
                user_id=caller.user_id,
                at=now,
            )
        )
        session.flush()
        uow.emit(
            events.CUSTOMER_CLAIMED, customers.customer_event(events.CustomerClaimed, customer)
        )
        return uow.commit(customers.dump_customer(customer, caller))
