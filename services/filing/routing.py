"""Where a lead goes (经销商区域管理): the ``Assigner`` that routes leads with what it asked
of the partners service, and the events that say where a lead went.

A lead goes to the partner whose territory covers its region, the most specific territory
first; among equally specific partners, a heavier grade (``lead_weight``) gets
proportionally more of the region's leads, and ties go to the partner with the fewest open
leads, then to the one assigned longest ago (``rules.choose_partner``). A lead matching a
customer protected for a partner goes to that partner. Declined and expired leads pass to
the next covering partner who has not had them, or back to the HQ queue; HQ may hand a
lead to a covering partner by hand (``assignment``).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from datetime import datetime
from typing import Any

import eventlet
from marshmallow import Schema
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from services.common.errors import InvalidInput, ServiceTimeout, ServiceUnavailable
from services.common.events import event_data
from services.common.regions import ADDRESS_RESOLVE_MAX
from services.common.unit_of_work import UnitOfWork
from services.filing import customers, events, rules
from services.filing.customers import Covering
from services.filing.keys import customer_keys, normalise_mobile
from services.filing.models import Customer, CustomerKey, Lead, LeadEvent, NewLead
from services.filing.schemas import ASSIGNED, PROTECTED

#: ``partners.partner_terms``: a partner's terms (protection days, claim hours), or None.
Terms = Callable[[int], dict | None]
#: ``partners.resolve_address``: the regions an address names.
Resolve = Callable[[dict], dict]
#: How many ``partners_covering`` calls ``Assigner.ask_covering`` makes side by side.
COVERING_CALLS_AT_ONCE = 8


def lead_event(lead: Lead, schema: type[Schema] = events.LeadEvent, **extra: Any) -> dict:
    """The data of a lead event of ``schema`` (``services.filing.events``)."""
    return event_data(
        schema,
        {
            "lead_id": lead.id,
            "lead_name": lead.name,
            "partner_id": lead.assigned_partner_id,
            "region_code": lead.region_code,
            "status": lead.status,
            "claim_deadline": lead.claim_deadline,
            **extra,
        },
    )


def emit_routed(uow: UnitOfWork, lead: Lead, assigned: bool) -> None:
    """Tell where ``Assigner.route`` sent the lead: to a partner, or back to HQ."""
    uow.emit(events.LEAD_ASSIGNED if assigned else events.LEAD_UNASSIGNED, lead_event(lead))


def emit_routed_batch(
    uow: UnitOfWork, leads: list[NewLead], routed: list[bool], import_id: str
) -> None:
    """Tell where a batch of an import went: one ``leads_assigned`` per partner that was
    given leads, and one ``leads_unassigned`` for those back in the HQ queue."""
    by_partner: dict[int, list[NewLead]] = {}
    unassigned: list[NewLead] = []
    for lead, assigned in zip(leads, routed, strict=True):
        if assigned and lead.assigned_partner_id is not None:
            by_partner.setdefault(lead.assigned_partner_id, []).append(lead)
        else:
            unassigned.append(lead)
    for partner_id, given in sorted(by_partner.items()):
        uow.emit(
            events.LEADS_ASSIGNED,
            leads_event(events.LeadsAssigned, partner_id, given, import_id=import_id),
        )
    if unassigned:
        first = min(unassigned, key=lambda lead: lead.id)
        uow.emit(
            events.LEADS_UNASSIGNED,
            event_data(
                events.LeadsUnassigned,
                {
                    "count": len(unassigned),
                    "lead_ids": sorted(lead.id for lead in unassigned),
                    "lead_id": first.id,
                    "lead_name": first.name,
                    "import_id": import_id,
                },
            ),
        )


def leads_event(
    schema: type[events.LeadsEvent], partner_id: int, leads: list[Lead], **extra: Any
) -> dict:
    """The data of an event telling ``partner_id`` of several ``leads`` at once."""
    leads = sorted(leads, key=lambda lead: lead.id)
    deadlines = [lead.claim_deadline for lead in leads if lead.claim_deadline is not None]
    return event_data(
        schema,
        {
            "partner_id": partner_id,
            "count": len(leads),
            "lead_ids": [lead.id for lead in leads],
            "lead_id": leads[0].id,
            "lead_name": leads[0].name,
            "claim_deadline": min(deadlines) if deadlines else None,
            **extra,
        },
    )


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
        #: Per region: the leads each partner was assigned in it, as far as weights need.
        self._assigned: dict[str, dict[int, int]] = {}
        self._owners: dict[Lead, int | None] = {}
        self._keys: dict[Lead, list[tuple[str, str]]] = {}

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
        owner = self._owner_of(lead)
        if owner is not None and owner not in rules.partners_had(lead):
            self._terms_of(owner)
        if lead.region_code is not None:
            self._covering_of(lead.region_code)

    def ask_covering(self, leads: Iterable[Lead | NewLead]) -> None:
        """Ask at once who covers each region of ``leads`` not asked yet, the calls side by
        side (an import's batch names a score of regions; one after the other they were
        most of its first batch's time). A region the partners service refuses is left to
        ``consult``, which asks again and raises for that lead alone; when the service is
        away or slow, the first such error is raised once every call has ended (asking each
        region again would wait out each timeout once more)."""
        regions = sorted(
            {lead.region_code for lead in leads if lead.region_code is not None}
            - self._covering_cache.keys()
        )
        if len(regions) < 2:
            return

        def ask(region: str) -> tuple[str, list[dict] | None, Exception | None]:
            try:
                return region, self.covering(region), None
            except InvalidInput:
                return region, None, None
            except (ServiceUnavailable, ServiceTimeout) as exc:
                return region, None, exc

        pool = eventlet.GreenPool(COVERING_CALLS_AT_ONCE)
        failed = None
        for region, found, exc in pool.imap(ask, regions):
            if found is not None:
                self._covering_cache[region] = found
            failed = failed or exc
        if failed is not None:
            raise failed

    def know_owners(self, leads: list[Lead]) -> None:
        """Read in one query the partners protected on customers that ``leads`` match, for
        ``consult`` and ``route`` to use instead of a query per lead (an import's batch).
        Read them again in the transaction that routes the leads."""
        for lead in leads:
            if lead not in self._keys:
                keys = customer_keys(lead.name, None, normalise_mobile(lead.phone))
                self._keys[lead] = customers.lookup_keys(keys)
        self._owners = protected_owners(self.session, {lead: self._keys[lead] for lead in leads})

    def _owner_of(self, lead: Lead) -> int | None:
        if lead in self._owners:
            return self._owners[lead]
        return protected_owner(self.session, lead)

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
                    .where(LeadEvent.action.in_(rules.ASSIGNING_ACTIONS))
                    .group_by(LeadEvent.partner_id)
                ).all()
            )

    def choose(self, region: str | None, excluded: set[int]) -> dict | None:
        """The covering partner for ``region`` (terms included), or None."""
        if region is None:
            return None
        candidates = self._covering_of(region)
        if not any(c["partner_id"] not in excluded for c in candidates):
            return None
        self._load_stats()
        tied = rules.most_specific(candidates, excluded)
        assigned_here = self._assigned_in(region, tied) if rules.weights_differ(tied) else None
        return rules.choose_partner(candidates, excluded, self._open, self._last, assigned_here)

    def _assigned_in(self, region: str, tied: list[dict]) -> dict[int, int]:
        """The leads of ``region`` each of ``tied`` was ever assigned (routed or by hand),
        read once and then counted here: an import's leads are inserted after routing."""
        counts = self._assigned.setdefault(region, {})
        unknown = [c["partner_id"] for c in tied if c["partner_id"] not in counts]
        if unknown:
            read = dict(
                self.session.execute(
                    select(LeadEvent.partner_id, func.count())
                    .join(Lead, Lead.id == LeadEvent.lead_id)
                    .where(
                        LeadEvent.partner_id.in_(unknown),
                        LeadEvent.action.in_(rules.ASSIGNING_ACTIONS),
                        Lead.region_code == region,
                    )
                    .group_by(LeadEvent.partner_id)
                ).all()
            )
            counts.update({partner_id: read.get(partner_id, 0) for partner_id in unknown})
        return counts

    def assign(self, lead: Lead, terms: dict, now: datetime, user_id: int | None) -> None:
        """Assign the lead to the partner of ``terms``, counted in this batch."""
        rules.assign(lead, terms, now, user_id)
        self._load_stats()
        self._open[terms["partner_id"]] = self._open.get(terms["partner_id"], 0) + 1
        self._last[terms["partner_id"]] = now
        counts = self._assigned.get(lead.region_code or "")
        if counts is not None and terms["partner_id"] in counts:
            counts[terms["partner_id"]] += 1

    def route(self, lead: Lead, now: datetime, user_id: int | None = None) -> bool:
        """Assign ``lead`` to the next partner, or leave it in the HQ queue; True if assigned
        (``emit_routed`` tells which).

        It runs inside the caller's write transaction, so it never asks the partners service:
        a customer that became protected after ``consult`` (whose owner's terms were not
        asked) is routed by region, as if the protection had come a moment later."""
        if lead.region_code is not None and lead.region_code not in self._covering_cache:
            raise RuntimeError("route() needs consult() first: it asks no service itself")
        had = rules.partners_had(lead)
        owner = self._owner_of(lead)
        terms = None
        if owner is not None and owner not in had and owner in self._terms_cache:
            terms = self._terms_cache[owner]
        if terms is None:
            terms = self.choose(lead.region_code, had)
        if terms is None:
            rules.unassign(lead, now, user_id)
            return False
        self.assign(lead, terms, now, user_id)
        return True


def protected_owner(session: Session, lead: Lead) -> int | None:
    """The partner protected on a customer this lead matches, if any."""
    keys = customer_keys(lead.name, None, normalise_mobile(lead.phone))
    for holder in customers.holders(session, keys):
        if holder.status == PROTECTED:
            return holder.owner_partner_id
    return None


def protected_owners(
    session: Session, keys_of: dict[Lead, list[tuple[str, str]]]
) -> dict[Lead, int | None]:
    """``protected_owner`` of each lead of ``keys_of`` (its ``customers.lookup_keys``),
    read in a query per kind of key."""
    wanted: dict[tuple[str, str], list[Lead]] = {}
    for lead, keys in keys_of.items():
        for key in keys:
            wanted.setdefault(key, []).append(lead)
    owners: dict[Lead, int | None] = dict.fromkeys(keys_of)
    for kind in sorted({kind for kind, _ in wanted}):
        held = session.execute(
            select(CustomerKey.value, Customer.owner_partner_id)
            .join(Customer, Customer.id == CustomerKey.customer_id)
            .where(
                CustomerKey.kind == kind,
                CustomerKey.value.in_([value for k, value in wanted if k == kind]),
                Customer.status == PROTECTED,
            )
        ).all()
        for value, owner in held:
            for lead in wanted[(kind, value)]:
                if owners[lead] is None:
                    owners[lead] = owner
    return owners


def resolve_region(data: dict, resolve: Resolve) -> str | None:
    """The lead's region: its code, or the most specific region named in its address."""
    if data.get("region_code"):
        return data["region_code"]
    if data.get("address"):
        # Region names open an address; the resolver reads no further than its cap.
        found = resolve({"address": data["address"][:ADDRESS_RESOLVE_MAX]})
        return found.get("district") or found.get("city") or found.get("province")
    return None
