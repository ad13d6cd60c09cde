"""The rules of filing and lead assignment: pure functions that decide, compute and refuse
with typed errors. They read and change the models they are given, never a session, and
ask no other service.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable, Mapping, Sequence
from datetime import UTC, datetime, timedelta
from fractions import Fraction
from typing import Any

from rapidfuzz import fuzz, process

from services.common.approval import FlowInstance
from services.common.context import Caller
from services.common.errors import Conflict, Forbidden, InvalidInput, InvalidState
from services.common.regions import specificity
from services.filing.models import Customer, Extension, Filing, Lead, LeadEvent
from services.filing.schemas import (
    ASSIGNED,
    CLAIMED,
    EXTENSION_APPROVED,
    EXTENSION_CANCELLED,
    EXTENSION_PENDING,
    EXTENSION_REJECTED,
    FILING_APPROVED,
    FILING_REJECTED,
    FROM_HQ,
    FROM_PARTNER,
    PROTECTED,
    REJECTED,
    RELEASED,
    UNASSIGNED,
)

DEFAULT_FILING_FLOW = [
    {
        "name": "渠道经理审批",
        "permission": "filing.approve",
        "mode": "any",
        "approvers": [],
        "condition": None,
    }
]
DEFAULT_EXTENSION_FLOW = [
    {
        "name": "渠道经理审批",
        "permission": "extension.approve",
        "mode": "any",
        "approvers": [],
        "condition": None,
    }
]
#: Extensions (延期) approved or pending at most in one protection period.
EXTENSIONS_PER_PERIOD = 2
#: Days before its protection ends that the owner of a customer is told, once.
REMINDER_DAYS = 7
#: Days before idle release that the owner of a customer is told, once.
IDLE_REMINDER_DAYS = 7
#: Days a partner waits to claim again a customer it released when its type sets none.
DEFAULT_RECLAIM_COOLDOWN_DAYS = 30
#: Hours before a claim deadline that the assigned partner is told, once.
DEADLINE_REMINDER_HOURS = 12
#: The protection of a customer claimed from a lead routed before partner types had terms.
DEFAULT_PROTECTION_DAYS = 180
#: A name this close (rapidfuzz WRatio of the normalised names, 0 to 1) to a customer of
#: another partner is shown to the approvers. WRatio compares code points, so one Chinese
#: character weighs as one letter, and it scores a name inside a longer one (西湖科技 in
#: 杭州西湖科技) at 0.9.
NEAR_MATCH_SIMILARITY = 0.85
#: Customers of the same city compared at most (the most recent), and matches kept.
NEAR_MATCH_CANDIDATES = 2000
NEAR_MATCHES_KEPT = 3
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


# -- filing -----------------------------------------------------------------------------


def filing_terms(caller: Caller, covering: Iterable[dict]) -> dict:
    """The caller's partner's terms for a region covered by ``covering`` (the active
    partners whose territory covers it); refuses an HQ caller and a region outside the
    caller's territory."""
    if caller.partner_id is None:
        raise Forbidden("customers are filed by partners")
    terms = next((row for row in covering if row["partner_id"] == caller.partner_id), None)
    if terms is None:
        raise InvalidInput(
            "the region is outside your territory",
            "region_not_in_territory",
            {"region_code": ["outside your territory"]},
        )
    return terms


def refuse_duplicates(caller: Caller, holders: Iterable[Customer]) -> None:
    """Refuses a filing whose keys active customers hold: the caller's own
    (``already_filed``, naming it) or another partner's (``filing_conflict``, naming
    nobody)."""
    for holder in holders:
        if holder.owner_partner_id == caller.partner_id:
            raise Conflict(
                "you have already filed this customer",
                "already_filed",
                {"customer_id": [str(holder.id)]},
            )
        raise filing_conflict()


def filing_conflict() -> Conflict:
    """The refusal of a customer another partner holds; it never says who."""
    return Conflict("this customer is already filed by another partner", "filing_conflict")


def near_matches(rows: Sequence[Any], name_key: str, address_index: str | None) -> list[dict]:
    """Of ``rows`` (customers of other partners in the same city: ``id``, ``name``,
    ``owner_partner_id``, ``address_index`` and name key ``value``), those with a similar
    name key or the same address (the same blind index of its ``keys.address_form``),
    closest first, at most ``NEAR_MATCHES_KEPT``, with why."""
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
    matches = []
    for index, row in enumerate(rows):
        same_address = bool(address_index) and row.address_index == address_index
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


def check_hq_decides(caller: Caller) -> None:
    """Filings are decided by headquarters only."""
    if not caller.is_hq:
        raise Forbidden("filings are decided by headquarters")


def approve(
    filing: Filing, caller: Caller, comment: str | None, now: datetime
) -> tuple[str, FlowInstance]:
    """The caller approves the filing's current step (the flow refuses whoever may not);
    the last approval protects the customer for its protection days. The flow's outcome
    (``approved``, ``step_approved``, ...) and the flow after it."""
    flow = FlowInstance.from_dict(filing.flow)
    outcome = flow.approve(
        caller.user_id,
        caller.permissions,
        comment,
        now,
        credentials_set_at=caller.credentials_set_at,
    )
    filing.flow = flow.to_dict()
    if outcome == "approved":
        filing.status, filing.decided_at = FILING_APPROVED, now
        customer = filing.customer
        customer.status = PROTECTED
        start_protection(customer, now)
    return outcome, flow


def reject(filing: Filing, caller: Caller, comment: str | None, now: datetime) -> None:
    """The caller rejects the filing with a reason (the flow refuses a blank one); the
    customer is rejected (its keys are to be released)."""
    flow = FlowInstance.from_dict(filing.flow)
    flow.reject(
        caller.user_id,
        caller.permissions,
        comment or "",
        now,
        credentials_set_at=caller.credentials_set_at,
    )
    filing.flow = flow.to_dict()
    filing.status, filing.decided_at = FILING_REJECTED, now
    filing.customer.status = REJECTED


def protected_until(start: datetime, days: int) -> datetime:
    """The end of a protection of ``days`` days from ``start``."""
    return start + timedelta(days=days)


# -- customers --------------------------------------------------------------------------


def check_owned(customer: Customer | None, caller: Caller) -> Customer:
    """The customer, if it is protected for the caller's partner (orders need that);
    else ``customer_not_owned``."""
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
    return customer


def check_transfer(customer: Customer, target: int, covering: Iterable[dict]) -> None:
    """A protected customer goes only to another partner covering its region."""
    if customer.status != PROTECTED:
        raise InvalidState(
            f"only protected customers are transferred; this one is {customer.status}"
        )
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


def extend_protection(customer: Customer | None, partner_id: int, approved_at: datetime) -> bool:
    """An order of the owner approved at ``approved_at`` extends the protection of its
    protected customer from that date (never shortens it; the reminder is due again).
    True if extended."""
    if customer is None or customer.status != PROTECTED or customer.owner_partner_id != partner_id:
        return False
    until = protected_until(approved_at, customer.protection_days)
    if customer.protected_until is None or until > customer.protected_until:
        customer.protected_until = until
        customer.reminder_sent_at = None
        return True
    return False


def release(customer: Customer, now: datetime) -> None:
    """The customer goes to the public pool (公海): its protection has ended, its owner
    gave it back or nobody followed it up."""
    customer.status = RELEASED
    customer.released_at = now


def check_releasable(customer: Customer, caller: Caller) -> None:
    """Only the partner holding a customer gives it back (not a parent partner that sees
    it), and only a protected one (a pending filing is decided first)."""
    if caller.partner_id is None or customer.owner_partner_id != caller.partner_id:
        raise Forbidden("customers are given back by the partner that holds them")
    if customer.status != PROTECTED:
        raise InvalidState(f"only protected customers are released; this one is {customer.status}")


def check_claim(
    customer: Customer,
    terms: dict,
    held: int,
    last_release: datetime | None,
    now: datetime,
) -> None:
    """A partner with ``terms`` (``partners.partner_terms``: ``max_protected_customers``,
    ``reclaim_cooldown_days``) holding ``held`` protected or pending customers, which last
    released this one at ``last_release``, claims it from the pool: only a released
    customer (409 ``already_claimed``), within its cap (409 ``claim_limit_reached``) and
    outside its cooldown (409 ``cooldown``)."""
    if customer.status != RELEASED:
        raise Conflict("the customer has been claimed by another partner", "already_claimed")
    check_within_cap(terms, held)
    days = terms.get("reclaim_cooldown_days")
    days = DEFAULT_RECLAIM_COOLDOWN_DAYS if days is None else days
    if last_release is not None and now < last_release + timedelta(days=days):
        until = last_release + timedelta(days=days)
        raise Conflict(
            f"you released this customer; you may claim it again from {until.isoformat()}",
            "cooldown",
        )


def check_within_cap(terms: dict, held: int) -> None:
    """A partner with ``terms`` (``max_protected_customers``: its grade's cap; None: no
    cap) holding ``held`` protected or pending customers takes one more only below its
    cap; else 409 ``claim_limit_reached``. The one rule of a pool claim, a lead claim and
    a new filing alike (each counts ``held`` under the partner's holdings lock)."""
    cap = terms.get("max_protected_customers")
    if cap is not None and held >= cap:
        raise Conflict(
            f"you already hold {held} protected or pending customers, your limit is {cap}",
            "claim_limit_reached",
        )


def claim_from_pool(customer: Customer, partner_id: int, days: int, now: datetime) -> None:
    """The customer is ``partner_id``'s, protected for ``days`` from now, source
    ``partner`` (the partner found it in the pool itself)."""
    customer.owner_partner_id = partner_id
    customer.source = FROM_PARTNER
    customer.status = PROTECTED
    customer.protection_days = days
    start_protection(customer, now)


def start_protection(customer: Customer, now: datetime) -> None:
    """A new owner's protection begins now: its period, reminders and idle count anew."""
    customer.protection_started_at = now
    customer.protected_until = protected_until(now, customer.protection_days)
    customer.reminder_sent_at = None
    customer.idle_reminder_sent_at = None
    customer.last_follow_up_at = None


def idle_since(customer: Customer) -> datetime:
    """Where a customer's idleness counts from: its owner's latest follow-up, or the start
    of its protection without one (the filing's day for customers from before that was
    kept)."""
    marks = [m for m in (customer.last_follow_up_at, customer.protection_started_at) if m]
    return max(marks) if marks else customer.created_at


def idle_release_due(customer: Customer, days: int | None, now: datetime) -> bool:
    """Whether the protected customer is released for idleness: no follow-up for
    ``days`` (None: the owner's partner type releases nobody for it)."""
    return (
        days is not None
        and customer.status == PROTECTED
        and now >= idle_since(customer) + timedelta(days=days)
    )


def idle_reminder_due(customer: Customer, days: int | None, now: datetime) -> bool:
    """Whether the owner is told now that idle release is near: ``IDLE_REMINDER_DAYS``
    before it, once per idle period (a follow-up starts a new one)."""
    if days is None or customer.status != PROTECTED or customer.idle_reminder_sent_at:
        return False
    return now >= idle_since(customer) + timedelta(days=days - IDLE_REMINDER_DAYS)


def recorded_follow_up(customer: Customer, now: datetime) -> None:
    """The owner followed the customer up: its idle period starts again."""
    customer.last_follow_up_at = now
    customer.idle_reminder_sent_at = None


# -- extensions (延期) ---------------------------------------------------------------------


def check_extension_request(
    customer: Customer, caller: Caller, counted: int, pending: int, now: datetime
) -> None:
    """The partner holding a protected customer asks for more days (a parent partner that
    sees it does not: 403): not while one is pending (409 ``extension_pending``), nor past
    ``EXTENSIONS_PER_PERIOD`` approved or pending in this protection period (409
    ``extension_limit_reached``); ``counted`` and ``pending`` are those of this period."""
    if caller.partner_id is None or customer.owner_partner_id != caller.partner_id:
        raise Forbidden("extensions are asked for by the partner that holds the customer")
    check_extendable(customer, caller.partner_id, customer.protection_started_at, now)
    if pending:
        raise Conflict("an extension of this customer is waiting for approval", "extension_pending")
    if counted >= EXTENSIONS_PER_PERIOD:
        raise Conflict(
            f"at most {EXTENSIONS_PER_PERIOD} extensions are granted per protection period",
            "extension_limit_reached",
        )


def check_extendable(
    customer: Customer, partner_id: int, period_started_at: datetime | None, now: datetime
) -> None:
    """The customer is still protected for ``partner_id`` in the protection period that
    began at ``period_started_at``, and its protection has not ended (the timer is about
    to release it): else 409 ``customer_not_protected``. A released customer is never
    revived by an extension."""
    if (
        customer.status != PROTECTED
        or customer.owner_partner_id != partner_id
        or customer.protection_started_at != period_started_at
        or customer.protected_until is None
        or customer.protected_until <= now
    ):
        raise InvalidState(
            "the customer is no longer protected for this partner; its protection is not extended",
            "customer_not_protected",
        )


def approve_extension(
    extension: Extension, caller: Caller, comment: str | None, now: datetime
) -> tuple[str, FlowInstance]:
    """The caller approves the extension's current step (the flow refuses whoever may
    not); no step is approved once the customer has left its owner's protection or its
    protection has ended (409 ``customer_not_protected``; the extension stays as it was).
    The last approval moves the customer's protection by ``days`` from its current end;
    the reminder before the new end is due again. The flow's outcome and the flow after
    it."""
    if extension.status != EXTENSION_PENDING:
        raise InvalidState(f"the extension is already {extension.status}")
    flow = FlowInstance.from_dict(extension.flow)
    outcome = flow.approve(
        caller.user_id,
        caller.permissions,
        comment,
        now,
        credentials_set_at=caller.credentials_set_at,
    )
    customer = extension.customer
    check_extendable(customer, extension.partner_id, extension.period_started_at, now)
    extension.flow = flow.to_dict()
    if outcome == "approved":
        extension.protected_until_before = customer.protected_until
        customer.protected_until = extended_until(customer.protected_until, extension.days)
        customer.reminder_sent_at = None
        extension.protected_until_after = customer.protected_until
        extension.status, extension.decided_at = EXTENSION_APPROVED, now
    return outcome, flow


def extended_until(until: datetime | None, days: int) -> datetime | None:
    """The end of a protection ending at ``until`` once extended by ``days``."""
    return None if until is None else until + timedelta(days=days)


def reject_extension(
    extension: Extension, caller: Caller, comment: str | None, now: datetime
) -> None:
    """The caller rejects the extension with a reason (the flow refuses a blank one)."""
    if extension.status != EXTENSION_PENDING:
        raise InvalidState(f"the extension is already {extension.status}")
    flow = FlowInstance.from_dict(extension.flow)
    flow.reject(
        caller.user_id,
        caller.permissions,
        comment or "",
        now,
        credentials_set_at=caller.credentials_set_at,
    )
    extension.flow = flow.to_dict()
    extension.status, extension.decided_at = EXTENSION_REJECTED, now


def cancel_extension(extension: Extension, now: datetime) -> None:
    """A pending extension whose customer left its owner's protection (released) is
    cancelled: nothing is left for it to extend."""
    if extension.status == EXTENSION_PENDING:
        extension.status, extension.decided_at = EXTENSION_CANCELLED, now


# -- leads ------------------------------------------------------------------------------


#: History actions that give a lead to a partner: routing's, and HQ's by hand.
ROUTED, BY_HAND, WITHDRAWN = "assigned", "hq_assigned", "withdrawn"
ASSIGNING_ACTIONS = (ROUTED, BY_HAND)


def lead_weight(terms: dict) -> int:
    """A covering partner's share of leads (its grade's ``lead_weight``; 1 without one)."""
    weight = terms.get("lead_weight")
    return weight if isinstance(weight, int) and weight >= 1 else 1


def most_specific(candidates: Iterable[dict], excluded: set[int]) -> list[dict]:
    """Of the covering partners' terms not ``excluded``, those whose territory is the most
    specific (a district before a city before a province): the partners a lead's choice
    is between."""
    left = [c for c in candidates if c["partner_id"] not in excluded]
    if not left:
        return []
    best = max(specificity(c["territory_code"]) for c in left)
    return [c for c in left if specificity(c["territory_code"]) == best]


def weights_differ(tied: Iterable[dict]) -> bool:
    """Whether the grades of ``tied`` weigh them differently (``choose_partner`` then needs
    the leads each was assigned in the region)."""
    return len({lead_weight(c) for c in tied}) > 1


def choose_partner(
    candidates: Iterable[dict],
    excluded: set[int],
    open_leads: dict[int, int],
    last_assigned: dict[int, datetime],
    assigned_here: Mapping[int, int] | None = None,
) -> dict | None:
    """Of the covering partners' terms (``partner_id``, ``territory_code``,
    ``lead_weight``, ...) not ``excluded``, the one with the most specific territory.

    Among equally specific partners of different weights, the one furthest below its
    share: the smallest (leads it was assigned in the region so far, ``assigned_here``,
    + 1) / weight. Weights 3 and 1 so give 3 leads of every 4 to the first, whether or
    not the partners claim them in between (claimed leads count, open ones alone would
    not). Otherwise, and between partners equally far, the fewest open leads, then the one
    assigned longest ago (never assigned: first), then the lowest id. None when nobody is
    left."""
    tied = most_specific(candidates, excluded)
    if not tied:
        return None

    def fair(c: dict) -> tuple[int, datetime, int]:
        return (
            open_leads.get(c["partner_id"], 0),
            last_assigned.get(c["partner_id"]) or _EPOCH,
            c["partner_id"],
        )

    if not weights_differ(tied):
        return min(tied, key=fair)
    counts = assigned_here or {}
    return min(
        tied,
        key=lambda c: (Fraction(counts.get(c["partner_id"], 0) + 1, lead_weight(c)), *fair(c)),
    )


def assign(lead: Lead, terms: dict, now: datetime, user_id: int | None) -> None:
    """The lead goes to the partner of ``terms``, to be claimed within its claim hours."""
    lead.status = ASSIGNED
    lead.assigned_partner_id = terms["partner_id"]
    lead.assigned_at = now
    lead.claim_deadline = now + timedelta(hours=terms["claim_hours"])
    lead.deadline_reminded_at = None
    lead.protection_days = terms["protection_days"]
    lead.history.append(
        LeadEvent(action=ROUTED, partner_id=terms["partner_id"], user_id=user_id, at=now)
    )


def check_hand_assignable(lead: Lead, partner_id: int) -> None:
    """HQ hands a lead by hand only while no partner has claimed it (409
    ``already_claimed``), and to a partner other than the one holding it (409
    ``invalid_state``); it needs a region, which the partner must cover."""
    if lead.status == CLAIMED:
        raise Conflict("the lead has been claimed", "already_claimed")
    if lead.status == ASSIGNED and lead.assigned_partner_id == partner_id:
        raise InvalidState("the lead is assigned to this partner already")
    if lead.region_code is None:
        raise InvalidState("the lead has no region; a partner covering it cannot be chosen")


def assign_by_hand(
    lead: Lead, terms: dict, now: datetime, user_id: int | None, reason: str | None
) -> int | None:
    """HQ user ``user_id`` gives the lead to the partner of ``terms`` for ``reason``: a
    claim deadline from the partner's claim hours, and the history says who did it and
    why (``hq_assigned``; ``withdrawn`` for a partner that held it unclaimed). The partner
    that held it, if any."""
    before = lead.assigned_partner_id if lead.status == ASSIGNED else None
    if before is not None:
        lead.history.append(
            LeadEvent(action=WITHDRAWN, partner_id=before, user_id=user_id, reason=reason, at=now)
        )
    assign(lead, terms, now, user_id)
    routed = lead.history[-1]
    routed.action, routed.reason = BY_HAND, reason
    return before


def unassign(lead: Lead, now: datetime, user_id: int | None) -> None:
    """Nobody is left to take the lead: it goes back to the HQ queue."""
    lead.status, lead.assigned_partner_id = UNASSIGNED, None
    lead.claim_deadline = None
    lead.history.append(LeadEvent(action="unassigned", user_id=user_id, at=now))


def partners_had(lead: Lead) -> set[int]:
    """The partners the lead was assigned to before (they do not get it again)."""
    return {e.partner_id for e in lead.history if e.partner_id is not None}


def check_can_act_on(lead: Lead, caller: Caller, now: datetime) -> None:
    """Only the partner a lead is assigned to claims or declines it, before its deadline."""
    if lead.assigned_partner_id != caller.partner_id:
        raise Forbidden("only the partner the lead is assigned to may act on it")
    if lead.status != ASSIGNED:
        raise InvalidState(f"the lead is {lead.status}")
    if lead.claim_deadline is not None and lead.claim_deadline <= now:
        raise InvalidState("the claim deadline has passed")


def check_decline_reason(reason: str | None) -> None:
    """A lead is declined with a reason."""
    if not reason or not reason.strip():
        raise InvalidInput("a reason is required", errors={"reason": ["required"]})


def claimed_customer(lead: Lead, partner_id: int, phone: str | None, now: datetime) -> Customer:
    """The customer a claimed lead becomes: the partner's, protected from now, source
    ``hq``. A lead without a region is not claimed."""
    days = lead.protection_days or DEFAULT_PROTECTION_DAYS
    customer = Customer(
        name=lead.name,
        contact_name=lead.contact_name,
        phone=phone or lead.phone,
        address=lead.address,
        region_code=lead.region_code or "",
        source=FROM_HQ,
        status=PROTECTED,
        owner_partner_id=partner_id,
        protection_days=days,
        protected_until=protected_until(now, days),
        protection_started_at=now,
        lead_id=lead.id,
    )
    if not customer.region_code:
        raise InvalidState("the lead has no region; HQ must set one before it is claimed")
    return customer


def claim(lead: Lead, customer_id: int, caller: Caller, now: datetime) -> None:
    """The lead is claimed for ``customer_id`` by the caller's partner."""
    lead.status, lead.customer_id = CLAIMED, customer_id
    lead.history.append(
        LeadEvent(action="claimed", partner_id=caller.partner_id, user_id=caller.user_id, at=now)
    )


def row_key(data: dict) -> str:
    """A valid row's fingerprint: its fields as read, whatever its place in the file."""
    canonical = json.dumps(data, sort_keys=True, ensure_ascii=False, default=str)
    return hashlib.sha256(canonical.encode("utf-8")).hexdigest()


def import_digest(rows: list[Any]) -> str:
    """The rows' fingerprint: the same rows in the same places, whatever the file's format."""
    canonical = json.dumps(rows, sort_keys=True, ensure_ascii=False, default=str)
    return hashlib.sha256(canonical.encode("utf-8")).hexdigest()


def chained_digest(received: str | None, rows_digest: str) -> str:
    """The digest of a file's rows received in parts: of one part, that part's
    ``import_digest`` (a file sent whole has the digest it always had); of several, each
    part's chained to the digest of those before."""
    if received is None:
        return rows_digest
    return hashlib.sha256(f"{received}:{rows_digest}".encode("ascii")).hexdigest()


def kept_errors(kept: list[dict], found: list[dict], limit: int) -> list[dict]:
    """The row errors an import keeps: the first ``limit`` of those kept and found, by row."""
    return sorted([*kept, *found], key=lambda error: error["row"])[:limit]
