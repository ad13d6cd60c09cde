"""The audit trail: who did what to which object, when, from where.

A use case records an action in its own transaction: ``audit.record(uow, caller, ...)``
adds an ``audit_recorded`` event to the outbox beside the change it describes, so the
record exists exactly when the change does (a failed sign-in commits its record and then
refuses). One service keeps the log (partners: ``AuditRecord``, append-only, each record
chained to the one before by its hash) and consumes these events from every service; the
AMQP ``user_id`` of the event names the service that sent it.

The actions are the vocabulary below; ``detail`` is a small flat dict of what the reader
needs (never a password, a token, or personal data in clear).
"""

from __future__ import annotations

from typing import Any

from marshmallow import fields, validate

from services.common.context import Caller
from services.common.events import EventSchema, event_data
from services.common.unit_of_work import UnitOfWork

AUDIT_RECORDED = "audit_recorded"

SIGN_IN = "sign_in"
SIGN_IN_FAILED = "sign_in_failed"
USER_CREATED = "user_created"
USER_CHANGED = "user_changed"
USER_DEACTIVATED = "user_deactivated"
PASSWORD_CHANGED = "password_changed"  # noqa: S105 (an action's name, not a password)
ROLES_CHANGED = "roles_changed"
ROLE_CREATED = "role_created"
ROLE_CHANGED = "role_changed"
GRADES_CHANGED = "grades_changed"
RATE_CHANGED = "rate_changed"
CUSTOMER_TRANSFERRED = "customer_transferred"
CUSTOMER_RELEASED = "customer_released"
PARTNER_TERMINATED = "partner_terminated"
STATEMENT_PAID = "statement_paid"
REPORT_EXPORTED = "report_exported"
PAYMENT_RECORDED = "payment_recorded"
PAYMENT_PLAN_SET = "payment_plan_set"
CREDIT_LIMIT_SET = "credit_limit_set"
PII_REVEALED = "pii_revealed"

#: Which services may record each action: the log refuses (parks) a record of an action
#: from any other, so that a service taken over cannot write sign-ins or reveals it never
#: makes.
RECORDED_BY: dict[str, frozenset[str]] = {
    **dict.fromkeys(
        (
            SIGN_IN,
            SIGN_IN_FAILED,
            USER_CREATED,
            USER_CHANGED,
            USER_DEACTIVATED,
            PASSWORD_CHANGED,
            ROLES_CHANGED,
            ROLE_CREATED,
            ROLE_CHANGED,
            GRADES_CHANGED,
            PARTNER_TERMINATED,
        ),
        frozenset({"partners"}),
    ),
    **dict.fromkeys((CUSTOMER_TRANSFERRED, CUSTOMER_RELEASED, PII_REVEALED), frozenset({"filing"})),
    **dict.fromkeys((RATE_CHANGED, STATEMENT_PAID), frozenset({"commission"})),
    **dict.fromkeys((PAYMENT_RECORDED, PAYMENT_PLAN_SET, CREDIT_LIMIT_SET), frozenset({"orders"})),
    REPORT_EXPORTED: frozenset({"orders", "commission"}),
}
#: Every action there is.
ACTIONS = tuple(RECORDED_BY)
#: The services that record anything: the log listens to these.
RECORDING_SERVICES = frozenset().union(*RECORDED_BY.values())

#: What a detail value may be: short scalars, so that a record stays small and flat.
_DETAIL_VALUE_LENGTH = 200
_DETAIL_KEYS = 20


def _flat_detail(value: dict[str, Any]) -> None:
    if len(value) > _DETAIL_KEYS:
        raise validate.ValidationError(f"at most {_DETAIL_KEYS} details")
    for key, item in value.items():
        if not isinstance(key, str) or len(key) > 64:
            raise validate.ValidationError("detail keys are short strings")
        if item is not None and not isinstance(item, str | int | bool):
            raise validate.ValidationError(f"detail {key!r} is not a string, number or flag")
        if isinstance(item, str) and len(item) > _DETAIL_VALUE_LENGTH:
            raise validate.ValidationError(f"detail {key!r} is too long")


class AuditRecorded(EventSchema):
    action = fields.String(required=True, validate=validate.OneOf(ACTIONS))
    actor_id = fields.Integer(allow_none=True, load_default=None, strict=True)
    actor_partner_id = fields.Integer(allow_none=True, load_default=None, strict=True)
    actor_system = fields.String(
        allow_none=True, load_default=None, validate=validate.Length(max=64)
    )
    address = fields.String(allow_none=True, load_default=None, validate=validate.Length(max=64))
    subject_type = fields.String(required=True, validate=validate.Length(min=1, max=32))
    subject_id = fields.String(allow_none=True, load_default=None, validate=validate.Length(max=64))
    detail = fields.Dict(load_default=dict, validate=_flat_detail)


def record(
    uow: UnitOfWork,
    caller: Caller | None,
    action: str,
    *,
    subject_type: str,
    subject_id: int | str | None = None,
    detail: dict[str, Any] | None = None,
    actor_id: int | None = None,
) -> str:
    """Add the audit record of ``action`` to this transaction's outbox; the event's id.

    ``actor_id`` names the actor where the caller is the system acting for someone (a
    sign-in, made by the gateway for the user who signs in)."""
    values = {
        "action": action,
        "actor_id": actor_id if actor_id is not None else (caller.user_id if caller else None),
        "actor_partner_id": caller.partner_id if caller else None,
        "actor_system": caller.system if caller else None,
        "address": caller.address if caller else None,
        "subject_type": subject_type,
        "subject_id": None if subject_id is None else str(subject_id),
        "detail": dict(detail or {}),
    }
    return uow.emit(AUDIT_RECORDED, event_data(AuditRecorded, values))


def record_export(
    uow: UnitOfWork,
    caller: Caller,
    report: str,
    file_format: str,
    rows: int,
    filters: dict[str, Any],
) -> str:
    """Record that ``caller`` exported ``report`` (its format, its row count and the
    filters it was made with: lists joined with commas, an empty one as None)."""
    detail: dict[str, Any] = {"format": file_format, "rows": rows}
    for name, value in filters.items():
        if isinstance(value, list | tuple):
            value = ",".join(str(item) for item in value) or None
        detail[name] = value
    return record(
        uow, caller, REPORT_EXPORTED, subject_type="report", subject_id=report, detail=detail
    )
