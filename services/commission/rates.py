"""Commission rates, the use cases: HQ lists and sets the rules, and asks which applies.

Rules are per partner type, with per-partner overrides, each with a rate for
``partner``-sourced customers and one for ``hq``-sourced customers, from a date on (which
one is in force: ``rules.choose``), and a basis: ``approval`` (the whole commission when
the order is approved) or ``collection`` (accrued with each receipt, ``collection``).
Setting a rule only ever adds one or replaces the rule of the same scope and date; entries
keep the rate they were written with.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import date, datetime
from decimal import Decimal

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from services.commission import partner_copy, rules
from services.commission.models import RateRule
from services.commission.partner_copy import FetchPartner
from services.commission.schemas import APPROVAL, RateInForceOut, RateOut
from services.common import audit
from services.common.context import Caller
from services.common.errors import NotFound
from services.common.schemas import dump, format_rate, ordered, page_of
from services.common.unit_of_work import UnitOfWork

#: The partners service's ``list_partner_types``: ``[{"code": ...}, ...]``.
ListPartnerTypes = Callable[[], list[dict]]


def dump_rule(rule: RateRule) -> dict:
    """A rule as the wire shows it."""
    return dump(RateOut, rule)


def list_rates(uow: UnitOfWork, caller: Caller, args: dict) -> dict:
    """Every rule, type rules first, then overrides, newest date first within a scope
    (HQ ``commission.manage``)."""
    caller.require_hq("commission.manage")
    stmt = select(RateRule).order_by(
        RateRule.partner_id.is_not(None),
        RateRule.partner_type,
        RateRule.partner_id,
        RateRule.effective_from.desc(),
    )
    if args.get("partner_type"):
        stmt = stmt.where(RateRule.partner_type == args["partner_type"])
    if args.get("partner_id") is not None:
        stmt = stmt.where(RateRule.partner_id == args["partner_id"])
    stmt = ordered(stmt, args.get("sort"), {"id": RateRule.id}, RateRule.id)
    with uow:
        return page_of(uow.session, stmt, args["page"], args["per_page"], dump_rule)


def put_rate(
    uow: UnitOfWork,
    caller: Caller,
    data: dict,
    now: datetime,
    list_partner_types: ListPartnerTypes,
    get_partner: FetchPartner,
) -> dict:
    """HQ sets the rates of a partner type or of one partner from a date (today in
    Asia/Shanghai by default); a rule of the same scope and date is replaced. Entries
    already written keep their rate.

    The partners service is asked first whether the partner or type exists, so that a typo
    does not create a rule nothing ever uses (422 ``unknown_partner``/``unknown_partner_type``).
    """
    caller.require_hq("commission.manage")
    effective_from = data.get("effective_from") or rules.business_date(now)
    fetched = None
    if data.get("partner_id") is not None:
        try:
            fetched = partner_copy.fetch_unknown(uow, data["partner_id"], get_partner)
            exists = True
        except NotFound:
            exists = False
        rules.check_known_partner(exists)
        scope = rules.partner_scope(data["partner_id"])
    else:
        known = [row["code"] for row in list_partner_types()]
        rules.check_known_type(data["partner_type"], known)
        scope = rules.type_scope(data["partner_type"])
    values = {
        "self_sourced_rate": data["self_sourced_rate"],
        "hq_assigned_rate": data["hq_assigned_rate"],
        "basis": data["basis"],
        "updated_by": caller.user_id,
    }
    with uow:
        if fetched is not None:
            partner_copy.known_partner(uow.session, data["partner_id"], fetched, now)
        rule = _rule_of(uow.session, scope, effective_from)
        replaced = rule is not None
        if rule is None:
            try:
                with uow.session.begin_nested():
                    rule = RateRule(
                        scope=scope,
                        partner_type=data.get("partner_type"),
                        partner_id=data.get("partner_id"),
                        effective_from=effective_from,
                        **values,
                    )
                    uow.session.add(rule)
            except IntegrityError:
                # Another HQ user set the same scope and date at this moment: update theirs.
                rule = _rule_of(uow.session, scope, effective_from)
                replaced = True
        before = {
            "before_self_sourced_rate": format_rate(rule.self_sourced_rate) if replaced else None,
            "before_hq_assigned_rate": format_rate(rule.hq_assigned_rate) if replaced else None,
        }
        # The basis is recorded where collection is involved (rules of basis approval, as
        # every rule was before there were bases, read as they always did).
        if data["basis"] != APPROVAL or (replaced and rule.basis != APPROVAL):
            before["basis"] = data["basis"]
            before["before_basis"] = rule.basis if replaced else None
        for key, value in values.items():
            setattr(rule, key, value)
        uow.session.flush()
        audit.record(
            uow,
            caller,
            audit.RATE_CHANGED,
            subject_type="rate_rule",
            subject_id=rule.id,
            detail={
                "partner_type": rule.partner_type,
                "partner_id": rule.partner_id,
                "effective_from": rule.effective_from.isoformat(),
                "self_sourced_rate": format_rate(rule.self_sourced_rate),
                "hq_assigned_rate": format_rate(rule.hq_assigned_rate),
                **before,
            },
        )
        return uow.commit(dump_rule(rule))


def rate_in_force(
    uow: UnitOfWork,
    caller: Caller,
    partner_id: int,
    on: date | None,
    now: datetime,
    get_partner: FetchPartner,
) -> dict:
    """The rates that apply to a partner on a day (today in Asia/Shanghai by default), and
    on what basis (HQ ``commission.manage``); NotFound for a partner nobody knows."""
    caller.require_hq("commission.manage")
    fetched = partner_copy.fetch_unknown(uow, partner_id, get_partner)
    on = on or rules.business_date(now)
    with uow:
        partner = partner_copy.known_partner(uow.session, partner_id, fetched, now)
        found = in_force(uow.session, partner.id, partner.type, on)
        answer = dump(
            RateInForceOut,
            {
                "partner_id": partner.id,
                "partner_type": partner.type,
                "on": on,
                "basis": found.basis,
                "rule_id": found.rule.id,
                "self_sourced_rate": found.rule.self_sourced_rate,
                "hq_assigned_rate": found.rule.hq_assigned_rate,
                "effective_from": found.rule.effective_from,
                "commission_basis": found.rule.basis,
            },
        )
        # A partner fetched just now is kept with the answer; else nothing was written.
        return uow.commit(answer) if fetched is not None else answer


def in_force(session: Session, partner_id: int, partner_type: str, on: date) -> rules.RateInForce:
    """The rule in force for a partner of ``partner_type`` on the business date ``on``."""
    return rules.choose(
        _latest_in_scope(session, rules.partner_scope(partner_id), on),
        _latest_in_scope(session, rules.type_scope(partner_type), on),
        on,
    )


def _latest_in_scope(session: Session, scope: str, on: date) -> list[RateRule]:
    rule = session.scalar(
        select(RateRule)
        .where(RateRule.scope == scope, RateRule.effective_from <= on)
        .order_by(RateRule.effective_from.desc())
        .limit(1)
    )
    return [rule] if rule is not None else []


def _rule_of(session: Session, scope: str, effective_from: date) -> RateRule | None:
    return session.scalar(
        select(RateRule)
        .where(RateRule.scope == scope, RateRule.effective_from == effective_from)
        .with_for_update()
    )


def ensure_type_rule(
    session: Session, partner_type: str, self_sourced: Decimal, hq_assigned: Decimal, since: date
) -> bool:
    """Seed a partner type's rule unless the type has one already (HQ's edits are kept)."""
    scope = rules.type_scope(partner_type)
    if session.scalar(select(RateRule.id).where(RateRule.scope == scope).limit(1)) is not None:
        return False
    session.add(
        RateRule(
            scope=scope,
            partner_type=partner_type,
            self_sourced_rate=self_sourced,
            hq_assigned_rate=hq_assigned,
            effective_from=since,
        )
    )
    session.flush()
    return True
