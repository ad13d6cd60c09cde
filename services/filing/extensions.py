"""Extensions (延期申请): the partner holding a protected customer asks for more days with
a reason, and the ``extension`` approval flow decides. The use cases (request, read,
approve, reject, the flow) and what the timer's releases do to pending ones.

An approval and the timer's release of the same customer take turns on the customer's row
lock (``with_for_update``; the timer locks the customers it releases): the approval either
moves the protection before the timer looks, which then finds it protected, or finds the
customer released (or its protection ended) and is refused, 409
``customer_not_protected``. A release or a transfer cancels the customer's pending extensions in the
same transaction, so an extension never revives a released customer.

Locks are taken customer first, then extension, in every path that takes both.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import ColumnElement, func, select
from sqlalchemy.orm import Session

from services.common.approval import FlowInstance, parse_flow
from services.common.context import Caller
from services.common.errors import NotFound
from services.common.schemas import dump, ordered, page_of
from services.common.scoping import get_scoped, scoped
from services.common.timeutil import utcnow
from services.common.unit_of_work import UnitOfWork
from services.filing import events, rules
from services.filing.customers import customer_event
from services.filing.models import ApprovalFlow, Customer, Extension
from services.filing.schemas import (
    EXTENSION_APPROVED,
    EXTENSION_PENDING,
    ExtensionOut,
)

FLOW_KIND = "extension"


def dump_extension(extension: Extension) -> dict:
    """The extension as it is answered, with its approval progress."""
    derived = {"customer_name": extension.customer.name, "steps": extension.flow["steps"]}
    data = {
        c: derived[c] if c in derived else getattr(extension, c)
        for c in ExtensionOut._declared_fields
    }
    return dump(ExtensionOut, data)


def _event(schema: Any, extension: Extension, **extra: Any) -> dict:
    # The partner that asked, even when the customer has since gone to another one.
    return customer_event(
        schema,
        extension.customer,
        partner_id=extension.partner_id,
        extension_id=extension.id,
        days=extension.days,
        **extra,
    )


def current_flow(session: Session) -> list[dict]:
    """The steps new extensions start with."""
    row = session.get(ApprovalFlow, FLOW_KIND)
    return row.steps if row else rules.DEFAULT_EXTENSION_FLOW


def _in_period(customer: Customer) -> ColumnElement[bool]:
    """The extensions of ``customer``'s current owner in its current protection period."""
    started = customer.protection_started_at
    return (
        (Extension.customer_id == customer.id)
        & (Extension.partner_id == customer.owner_partner_id)
        & (
            Extension.period_started_at.is_(None)
            if started is None
            else Extension.period_started_at == started
        )
    )


# -- the use cases ----------------------------------------------------------------------------


def request_extension(uow: UnitOfWork, caller: Caller, customer_id: int, data: dict) -> dict:
    """The partner holding a protected customer asks for ``days`` more with a ``reason``;
    the extension's approval flow starts (``extension_requested``). 404 for a customer it
    does not see, 409 ``customer_not_protected``, ``extension_pending`` (one waits already)
    or ``extension_limit_reached`` (``rules.EXTENSIONS_PER_PERIOD`` in this period)."""
    caller.require("customer.create")
    now = utcnow()
    with uow:
        session = uow.session
        customer = session.get(Customer, customer_id, with_for_update=True, populate_existing=True)
        if customer is None or not caller.sees_partner(customer.owner_partner_id):
            raise NotFound(f"customer {customer_id} not found")
        # Pending ones of an earlier protection (given back, transferred) extend nothing.
        for stale in session.scalars(
            select(Extension)
            .where(
                Extension.customer_id == customer.id,
                Extension.status == EXTENSION_PENDING,
                ~_in_period(customer),
            )
            .with_for_update()
        ):
            rules.cancel_extension(stale, now)
        counts = dict(
            session.execute(
                select(Extension.status, func.count())
                .where(
                    _in_period(customer),
                    Extension.status.in_((EXTENSION_PENDING, EXTENSION_APPROVED)),
                )
                .group_by(Extension.status)
            ).all()
        )
        rules.check_extension_request(
            customer, caller, sum(counts.values()), counts.get(EXTENSION_PENDING, 0), now
        )
        flow = FlowInstance.start(
            parse_flow(current_flow(session)), {}, submitted_by=caller.user_id, started_at=now
        )
        extension = Extension(
            customer=customer,
            partner_id=customer.owner_partner_id,
            days=data["days"],
            reason=data["reason"],
            status=EXTENSION_PENDING,
            flow=flow.to_dict(),
            period_started_at=customer.protection_started_at,
            protected_until_before=customer.protected_until,
            requested_by=caller.user_id,
            created_at=now,
        )
        session.add(extension)
        session.flush()
        uow.emit(
            events.EXTENSION_REQUESTED,
            _event(
                events.ExtensionWaiting,
                extension,
                reason=extension.reason,
                step=flow.current.definition.to_dict(),
            ),
        )
        return uow.commit(dump_extension(extension))


def list_extensions(uow: UnitOfWork, caller: Caller, args: dict) -> dict:
    """A page of the extensions the caller sees (its partners'; HQ: all), newest first."""
    stmt = scoped(select(Extension), Extension.partner_id, caller).order_by(Extension.id.desc())
    for name in ("status", "customer_id", "partner_id"):
        if args.get(name) is not None:
            stmt = stmt.where(getattr(Extension, name) == args[name])
    sortable = {"id": Extension.id, "created_at": Extension.created_at, "status": Extension.status}
    stmt = ordered(stmt, args.get("sort"), sortable, Extension.id)
    with uow:
        return page_of(uow.session, stmt, args["page"], args["per_page"], dump_extension)


def get_extension(uow: UnitOfWork, caller: Caller, extension_id: int) -> dict:
    """An extension the caller sees; else not found."""
    with uow:
        return dump_extension(get_scoped(uow.session, Extension, extension_id, caller))


def _locked(session: Session, caller: Caller, extension_id: int) -> Extension:
    """The extension an HQ caller decides, its customer locked first, then itself."""
    rules.check_hq_decides(caller)
    found = get_scoped(session, Extension, extension_id, caller)
    session.get(Customer, found.customer_id, with_for_update=True, populate_existing=True)
    extension = session.get(Extension, extension_id, with_for_update=True, populate_existing=True)
    if extension is None:
        raise NotFound(f"extension {extension_id} not found")
    return extension


def approve_extension(
    uow: UnitOfWork, caller: Caller, extension_id: int, comment: str | None
) -> dict:
    """An approver of the current step approves; the last approval moves the customer's
    protection by the extension's days in the same transaction (``extension_approved``),
    an earlier one hands it to the next step (``extension_step_waiting``). 409
    ``customer_not_protected`` when the customer was released or its protection ended
    first: the extension is left as it was (a release cancels it)."""
    now = utcnow()
    with uow:
        extension = _locked(uow.session, caller, extension_id)
        outcome, flow = rules.approve_extension(extension, caller, comment, now)
        if outcome == "approved":
            uow.emit(events.EXTENSION_APPROVED, _event(events.ExtensionDecided, extension))
        elif outcome == "step_approved":
            uow.emit(
                events.EXTENSION_STEP_WAITING,
                _event(
                    events.ExtensionWaiting,
                    extension,
                    reason=extension.reason,
                    step=flow.current.definition.to_dict(),
                ),
            )
        return uow.commit(dump_extension(extension))


def reject_extension(
    uow: UnitOfWork, caller: Caller, extension_id: int, comment: str | None
) -> dict:
    """An approver rejects with a reason; the protection is unchanged
    (``extension_rejected``)."""
    now = utcnow()
    with uow:
        extension = _locked(uow.session, caller, extension_id)
        rules.reject_extension(extension, caller, comment, now)
        uow.emit(
            events.EXTENSION_REJECTED,
            _event(events.ExtensionRejected, extension, reason=comment),
        )
        return uow.commit(dump_extension(extension))


def get_flow(uow: UnitOfWork, caller: Caller) -> dict:
    """The extension approval flow (HQ flow managers only)."""
    caller.require_hq("flow.manage")
    with uow:
        return {"kind": FLOW_KIND, "steps": current_flow(uow.session)}


def set_flow(uow: UnitOfWork, caller: Caller, steps: list[dict]) -> dict:
    """HQ replaces the extension flow; extensions already running keep the flow they
    started with."""
    caller.require_hq("flow.manage")
    parsed = [step.to_dict() for step in parse_flow(steps, fields=set())]
    with uow:
        row = uow.session.get(ApprovalFlow, FLOW_KIND)
        if row is None:
            uow.session.add(ApprovalFlow(kind=FLOW_KIND, steps=parsed, updated_by=caller.user_id))
        else:
            row.steps, row.updated_by = parsed, caller.user_id
        return uow.commit({"kind": FLOW_KIND, "steps": parsed})
