"""Statements (结算单), the use cases: HQ settles a partner's entries of a period; the
partner confirms; HQ finance pays (the moves: ``rules.confirm``, ``rules.pay``); and the
reads of statements.

Issuing takes every entry of the partner and period that is on no statement yet, so an
entry is settled at most once; entries that arrive for a settled period later (a late
event) go on a further statement.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from services.commission import events, rules
from services.commission.models import CommissionEntry, Statement
from services.commission.schemas import ISSUED, StatementOut
from services.common import audit
from services.common.context import Caller
from services.common.errors import NotFound
from services.common.events import event_data
from services.common.money import money_str
from services.common.schemas import dump, ordered, page_of
from services.common.scoping import get_scoped, scoped
from services.common.unit_of_work import UnitOfWork


def dump_statement(statement: Statement) -> dict:
    """A statement as the wire shows it."""
    return dump(StatementOut, statement)


def issue_statement(uow: UnitOfWork, caller: Caller, data: dict, now: datetime) -> dict:
    """HQ issues a statement of a partner's entries of an ended period that are on no
    statement yet; those entries are locked onto it.

    422 ``period_not_ended`` for the current or a future month; 409 ``nothing_to_settle``
    when no such entry exists; 422 ``statement_too_large`` when no column holds the total.
    """
    caller.require_hq("commission.manage")
    partner_id, period = data["partner_id"], data["period"]
    rules.check_period_ended(period, now)
    with uow:
        entries = uow.session.scalars(
            select(CommissionEntry)
            .where(
                CommissionEntry.partner_id == partner_id,
                CommissionEntry.period == period,
                CommissionEntry.statement_id.is_(None),
            )
            .order_by(CommissionEntry.id)
            .with_for_update()
        ).all()
        total = rules.statement_total(partner_id, period, [entry.amount for entry in entries])
        statement = Statement(
            partner_id=partner_id,
            period=period,
            status=ISSUED,
            total_amount=total,
            entry_count=len(entries),
            issued_by=caller.user_id,
            issued_at=now,
        )
        uow.session.add(statement)
        uow.session.flush()
        for entry in entries:
            entry.statement_id = statement.id
        uow.session.flush()
        uow.emit(events.STATEMENT_ISSUED, _statement_event(events.StatementIssued, statement))
        return uow.commit(dump_statement(statement))


def confirm_statement(uow: UnitOfWork, caller: Caller, statement_id: int, now: datetime) -> dict:
    """The partner the statement is for confirms it (``commission.confirm``)."""
    caller.require("commission.confirm")
    with uow:
        statement = _locked(uow.session, caller, statement_id)
        rules.confirm(statement, caller, now)
        uow.session.flush()
        uow.emit(events.STATEMENT_CONFIRMED, _statement_event(events.StatementConfirmed, statement))
        return uow.commit(dump_statement(statement))


def pay_statement(
    uow: UnitOfWork, caller: Caller, statement_id: int, payment_ref: str, now: datetime
) -> dict:
    """HQ finance marks a confirmed statement paid, with the payment's reference
    (``commission.pay``)."""
    caller.require_hq("commission.pay")
    with uow:
        statement = _locked(uow.session, caller, statement_id)
        rules.pay(statement, caller, payment_ref, now)
        uow.session.flush()
        uow.emit(events.STATEMENT_PAID, _statement_event(events.StatementPaid, statement))
        audit.record(
            uow,
            caller,
            audit.STATEMENT_PAID,
            subject_type="statement",
            subject_id=statement.id,
            detail={
                "partner_id": statement.partner_id,
                "period": statement.period,
                "total_amount": money_str(statement.total_amount),
                "payment_ref": statement.payment_ref,
            },
        )
        return uow.commit(dump_statement(statement))


def list_statements(uow: UnitOfWork, caller: Caller, args: dict) -> dict:
    """Statements in the caller's scope, newest first, with the filters given, a page."""
    stmt = scoped(select(Statement), Statement.partner_id, caller).order_by(Statement.id.desc())
    for key in ("partner_id", "period", "status"):
        if args.get(key) is not None:
            stmt = stmt.where(getattr(Statement, key) == args[key])
    sortable = {
        "id": Statement.id,
        "period": Statement.period,
        "total_amount": Statement.total_amount,
        "status": Statement.status,
    }
    stmt = ordered(stmt, args.get("sort"), sortable, Statement.id)
    with uow:
        return page_of(uow.session, stmt, args["page"], args["per_page"], dump_statement)


def get_statement(uow: UnitOfWork, caller: Caller, statement_id: int) -> dict:
    """One statement; NotFound outside the caller's scope."""
    with uow:
        return dump_statement(get_scoped(uow.session, Statement, statement_id, caller))


def _locked(session: Session, caller: Caller, statement_id: int) -> Statement:
    """The statement, locked for a move, if the caller may see it; else NotFound."""
    statement = session.get(Statement, statement_id, with_for_update=True)
    if statement is None or not caller.sees_partner(statement.partner_id):
        raise NotFound(f"statement {statement_id} not found")
    return statement


def _statement_event(schema: type[events.StatementIssued], statement: Statement) -> dict:
    return event_data(
        schema,
        {
            "statement_id": statement.id,
            "partner_id": statement.partner_id,
            "period": statement.period,
            "total_amount": statement.total_amount,
            "entry_count": statement.entry_count,
            "payment_ref": statement.payment_ref,
        },
    )
