"""Statements (结算单): HQ settles a partner's entries of a period; the partner confirms;
HQ finance pays.

``issued`` -> ``confirmed`` (by the partner itself) -> ``paid`` (by HQ, with a payment
reference). Any other move is refused as ``invalid_state``. Issuing takes every entry of
the partner and period that is on no statement yet, so an entry is settled at most once;
entries that arrive for a settled period later (a late event) go on a further statement.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from services.commission.models import CommissionEntry, Statement
from services.commission.periods import has_ended
from services.commission.schemas import StatementOut
from services.common.context import Caller
from services.common.errors import Conflict, Forbidden, InvalidInput, InvalidState, NotFound
from services.common.money import MAX_MONEY, fits_money_column, money_str
from services.common.schemas import page_of
from services.common.scoping import get_scoped, scoped

Emit = Callable[[str, dict[str, Any]], str]

ISSUED, CONFIRMED, PAID = "issued", "confirmed", "paid"


def dump_statement(statement: Statement) -> dict:
    return StatementOut().dump(statement)


def statement_event(statement: Statement) -> dict:
    return {
        "statement_id": statement.id,
        "partner_id": statement.partner_id,
        "period": statement.period,
        "total_amount": money_str(statement.total_amount),
        "entry_count": statement.entry_count,
    }


def _require_status(statement: Statement, expected: str, action: str) -> None:
    if statement.status != expected:
        raise InvalidState(
            f"statement {statement.id} is {statement.status}; only a statement that is "
            f"{expected} can be {action}"
        )


def _locked(session: Session, caller: Caller, statement_id: int) -> Statement:
    """The statement, locked for a transition, if the caller may see it; else NotFound."""
    statement = session.get(Statement, statement_id, with_for_update=True)
    if statement is None or not caller.sees_partner(statement.partner_id):
        raise NotFound(f"statement {statement_id} not found")
    return statement


def issue_statement(
    session: Session, caller: Caller, data: dict, now: datetime, emit: Emit
) -> dict:
    """HQ issues a statement of a partner's entries of an ended period that are on no
    statement yet; those entries are locked onto it.

    422 ``period_not_ended`` for the current or a future month; 409 ``nothing_to_settle``
    when no such entry exists.
    """
    caller.require_hq("commission.manage")
    partner_id, period = data["partner_id"], data["period"]
    if not has_ended(period, now):
        raise InvalidInput(
            f"the period {period} has not ended yet",
            "period_not_ended",
            {"period": ["settle a month once it has ended"]},
        )
    entries = session.scalars(
        select(CommissionEntry)
        .where(
            CommissionEntry.partner_id == partner_id,
            CommissionEntry.period == period,
            CommissionEntry.statement_id.is_(None),
        )
        .order_by(CommissionEntry.id)
        .with_for_update()
    ).all()
    if not entries:
        raise Conflict(
            f"partner {partner_id} has no unsettled commission in {period}", "nothing_to_settle"
        )
    total = sum((entry.amount for entry in entries), Decimal("0.00"))
    if not fits_money_column(total):
        raise InvalidInput(
            f"partner {partner_id}'s commission of {period} is more than one statement holds",
            "statement_too_large",
            {"period": [f"the total is more than {MAX_MONEY}"]},
        )
    statement = Statement(
        partner_id=partner_id,
        period=period,
        status=ISSUED,
        total_amount=total,
        entry_count=len(entries),
        issued_by=caller.user_id,
        issued_at=now,
    )
    session.add(statement)
    session.flush()
    for entry in entries:
        entry.statement_id = statement.id
    session.flush()
    emit("statement_issued", statement_event(statement))
    return dump_statement(statement)


def confirm_statement(
    session: Session, caller: Caller, statement_id: int, now: datetime, emit: Emit
) -> dict:
    """The partner the statement is for confirms it (``commission.confirm``)."""
    caller.require("commission.confirm")
    statement = _locked(session, caller, statement_id)
    if caller.partner_id != statement.partner_id:
        raise Forbidden("only the partner the statement is for may confirm it")
    _require_status(statement, ISSUED, "confirmed")
    statement.status, statement.confirmed_by, statement.confirmed_at = (
        CONFIRMED,
        caller.user_id,
        now,
    )
    session.flush()
    emit("statement_confirmed", statement_event(statement))
    return dump_statement(statement)


def pay_statement(
    session: Session, caller: Caller, statement_id: int, payment_ref: str, now: datetime, emit: Emit
) -> dict:
    """HQ finance marks a confirmed statement paid, with the payment's reference."""
    caller.require_hq("commission.pay")
    statement = _locked(session, caller, statement_id)
    _require_status(statement, CONFIRMED, "paid")
    statement.status, statement.payment_ref = PAID, payment_ref.strip()
    statement.paid_by, statement.paid_at = caller.user_id, now
    session.flush()
    emit("statement_paid", statement_event(statement) | {"payment_ref": statement.payment_ref})
    return dump_statement(statement)


def list_statements(session: Session, caller: Caller, args: dict) -> dict:
    stmt = scoped(select(Statement), Statement.partner_id, caller).order_by(Statement.id.desc())
    for key in ("partner_id", "period", "status"):
        if args.get(key) is not None:
            stmt = stmt.where(getattr(Statement, key) == args[key])
    return page_of(session, stmt, args["page"], args["per_page"], dump_statement)


def get_statement(session: Session, caller: Caller, statement_id: int) -> dict:
    return dump_statement(get_scoped(session, Statement, statement_id, caller))
