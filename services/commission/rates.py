"""Commission rate rules: per partner type, with per-partner overrides, each with a rate for
``partner``-sourced customers and one for ``hq``-sourced customers, from a date on.

The rate in force for a partner on a day is the override with the latest
``effective_from`` on or before that day, or failing one, the partner type's rule chosen
the same way. Rules only ever add or replace a rule of the same scope and date; entries
keep the rate they were written with, so a rate change never rewrites an entry.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from services.commission.models import RateRule
from services.commission.periods import business_date
from services.commission.schemas import RateInForceOut, RateOut
from services.common.context import Caller
from services.common.errors import InvalidInput, InvalidState
from services.common.schemas import page_of

PARTNER, HQ = "partner", "hq"
BASIS_PARTNER, BASIS_TYPE = "partner", "partner_type"


def type_scope(partner_type: str) -> str:
    return f"type:{partner_type}"


def partner_scope(partner_id: int) -> str:
    return f"partner:{partner_id}"


def dump_rule(rule: RateRule) -> dict:
    return RateOut().dump(rule)


@dataclass(frozen=True)
class RateInForce:
    """The rule that applies, and on what basis (an override or the partner type)."""

    rule: RateRule
    basis: str

    def for_source(self, source: str) -> Decimal:
        """The rate for a customer of ``source``: ``partner`` (self-sourced) or ``hq``."""
        if source == PARTNER:
            return self.rule.self_sourced_rate
        if source == HQ:
            return self.rule.hq_assigned_rate
        raise InvalidInput(f"unknown customer source {source!r}", errors={"source": ["unknown"]})


def latest_effective(rules: Iterable[RateRule], on: date) -> RateRule | None:
    """Of ``rules`` (one scope), the one with the latest ``effective_from`` not after ``on``."""
    applicable = [rule for rule in rules if rule.effective_from <= on]
    return max(applicable, key=lambda rule: rule.effective_from, default=None)


def choose(overrides: Iterable[RateRule], type_rules: Iterable[RateRule], on: date) -> RateInForce:
    """The partner's override in force on ``on``, else its type's rule; InvalidState
    ``no_rate_in_force`` when neither has one (the event waits for HQ to add a rule)."""
    override = latest_effective(overrides, on)
    if override is not None:
        return RateInForce(override, BASIS_PARTNER)
    by_type = latest_effective(type_rules, on)
    if by_type is not None:
        return RateInForce(by_type, BASIS_TYPE)
    raise InvalidState(f"no commission rate is in force on {on.isoformat()}", "no_rate_in_force")


def _latest_in_scope(session: Session, scope: str, on: date) -> list[RateRule]:
    rule = session.scalar(
        select(RateRule)
        .where(RateRule.scope == scope, RateRule.effective_from <= on)
        .order_by(RateRule.effective_from.desc())
        .limit(1)
    )
    return [rule] if rule is not None else []


def rate_in_force(session: Session, partner_id: int, partner_type: str, on: date) -> RateInForce:
    """The rule in force for a partner of ``partner_type`` on the business date ``on``."""
    return choose(
        _latest_in_scope(session, partner_scope(partner_id), on),
        _latest_in_scope(session, type_scope(partner_type), on),
        on,
    )


def describe_in_force(
    session: Session, caller: Caller, partner_id: int, partner_type: str, on: date
) -> dict:
    """What HQ sees when it asks which rates apply to a partner on a day."""
    caller.require_hq("commission.manage")
    found = rate_in_force(session, partner_id, partner_type, on)
    return RateInForceOut().dump(
        {
            "partner_id": partner_id,
            "partner_type": partner_type,
            "on": on,
            "basis": found.basis,
            "rule_id": found.rule.id,
            "self_sourced_rate": found.rule.self_sourced_rate,
            "hq_assigned_rate": found.rule.hq_assigned_rate,
            "effective_from": found.rule.effective_from,
        }
    )


def list_rates(session: Session, caller: Caller, args: dict) -> dict:
    """Every rule, type rules first, then overrides, newest date first within a scope."""
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
    return page_of(session, stmt, args["page"], args["per_page"], dump_rule)


def _rule_of(session: Session, scope: str, effective_from: date) -> RateRule | None:
    return session.scalar(
        select(RateRule)
        .where(RateRule.scope == scope, RateRule.effective_from == effective_from)
        .with_for_update()
    )


def put_rate(
    session: Session,
    caller: Caller,
    data: dict,
    now: datetime,
    known_types: Callable[[], Iterable[str]],
    partner_exists: Callable[[int], bool],
) -> dict:
    """HQ sets the rates of a partner type or of one partner from a date (today in
    Asia/Shanghai by default); a rule of the same scope and date is replaced. Entries
    already written keep their rate.

    ``known_types`` and ``partner_exists`` ask the partners service, so that a typo does
    not create a rule nothing ever uses (422 ``unknown_partner_type``/``unknown_partner``).
    """
    caller.require_hq("commission.manage")
    effective_from = data.get("effective_from") or business_date(now)
    if data.get("partner_id") is not None:
        if not partner_exists(data["partner_id"]):
            raise InvalidInput(
                "unknown partner", "unknown_partner", {"partner_id": ["unknown partner"]}
            )
        scope = partner_scope(data["partner_id"])
    else:
        if data["partner_type"] not in set(known_types()):
            raise InvalidInput(
                "unknown partner type",
                "unknown_partner_type",
                {"partner_type": [f"unknown partner type {data['partner_type']}"]},
            )
        scope = type_scope(data["partner_type"])
    values = {
        "self_sourced_rate": data["self_sourced_rate"],
        "hq_assigned_rate": data["hq_assigned_rate"],
        "updated_by": caller.user_id,
    }
    rule = _rule_of(session, scope, effective_from)
    if rule is None:
        try:
            with session.begin_nested():
                rule = RateRule(
                    scope=scope,
                    partner_type=data.get("partner_type"),
                    partner_id=data.get("partner_id"),
                    effective_from=effective_from,
                    **values,
                )
                session.add(rule)
        except IntegrityError:
            # Another HQ user set the same scope and date at this moment: update theirs.
            rule = _rule_of(session, scope, effective_from)
    for key, value in values.items():
        setattr(rule, key, value)
    session.flush()
    return dump_rule(rule)


def ensure_type_rule(
    session: Session, partner_type: str, self_sourced: Decimal, hq_assigned: Decimal, since: date
) -> bool:
    """Seed a partner type's rule unless the type has one already (HQ's edits are kept)."""
    scope = type_scope(partner_type)
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
