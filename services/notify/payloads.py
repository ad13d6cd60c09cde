"""What a channel is sent about an event: the one place a delivery's payload is built.

HQ works across partners; a partner sees its own rows only. So each event kind lists the
fields of its data that an HQ-bound delivery (a channel of an HQ user) carries, and those a
partner-bound one (a partner's channel, or a channel of one of its users) carries. A field
naming a partner reaches a partner only when it names that partner: the partner a customer
was transferred away from is not told who has it now (nor anything of it as it stands), nor
the new owner who had it. A field
no list names goes nowhere, so what a producer adds to an event stays inside until it is
listed here.

Pure: data in, data out; no database, no RPC.
"""

from __future__ import annotations

from typing import Any, NamedTuple

from services.notify.messages import Rendered

#: Fields whose value is a partner's id.
PARTNER_FIELDS = frozenset({"partner_id", "from_partner_id"})
#: What a partner is told of a row that is another partner's now (a customer HQ transferred
#: away): which one it was and why, nothing of the row as it stands.
NO_LONGER_OWN = frozenset(
    {"customer_id", "customer_name", "region_code", "from_partner_id", "reason"}
)


class Allowed(NamedTuple):
    hq: frozenset[str]
    partner: frozenset[str]


def _fields(*names: str) -> frozenset[str]:
    return frozenset(names)


_CUSTOMER = _fields(
    "customer_id",
    "customer_name",
    "partner_id",
    "region_code",
    "source",
    "status",
    "protected_until",
)
_FILING = _CUSTOMER | {"filing_id"}
_EXTENSION = _CUSTOMER | {"extension_id", "days"}
_LEAD = _fields("lead_id", "lead_name", "partner_id", "region_code", "status", "claim_deadline")
_ORDER = _fields("order_id", "partner_id", "contract_no", "customer_name")
_PAYMENT_DUE = _ORDER | {
    "position",
    "due_date",
    "installment_amount",
    "unpaid_amount",
    "days_overdue",
}


def _same(names: frozenset[str]) -> Allowed:
    return Allowed(names, names)


def _hq_only(names: frozenset[str]) -> Allowed:
    return Allowed(names, frozenset())


ALLOWED: dict[str, Allowed] = {
    "filing_submitted": _hq_only(_FILING | {"step"}),
    "filing_step_waiting": _hq_only(_FILING | {"step"}),
    "filing_approved": _same(_FILING),
    "filing_rejected": _same(_FILING | {"reason"}),
    "protection_ending": _same(_CUSTOMER),
    "customer_released": _same(_CUSTOMER | {"kind", "reason"}),
    "customer_claimed": _same(_CUSTOMER),
    "idle_release_near": _same(_CUSTOMER | {"release_at"}),
    "extension_requested": _hq_only(_EXTENSION | {"reason", "step"}),
    "extension_step_waiting": _hq_only(_EXTENSION | {"reason", "step"}),
    "extension_approved": _same(_EXTENSION),
    "extension_rejected": _same(_EXTENSION | {"reason"}),
    "customer_transferred": _same(_CUSTOMER | {"from_partner_id", "reason"}),
    "partner_handover_done": _hq_only(
        _fields(
            "partner_id",
            "customers",
            "to_partner_id",
            "reason",
            "released",
            "transferred",
            "filings_rejected",
            "leads_reassigned",
            "leads_unassigned",
        )
    ),
    "lead_assigned": _same(_LEAD | {"by_hand", "assigned_by", "reason"}),
    "leads_assigned": _same(
        _fields("lead_id", "lead_name", "partner_id", "count", "lead_ids", "claim_deadline")
    ),
    "lead_claim_deadline_near": _same(_LEAD),
    "lead_claim_deadlines_near": _same(
        _fields("lead_id", "lead_name", "partner_id", "count", "lead_ids", "claim_deadline")
    ),
    "order_step_waiting": _hq_only(_ORDER | {"total_amount", "step"}),
    "order_approved": _same(
        _ORDER
        | {
            "customer_id",
            "region_code",
            "province",
            "city",
            "customer_source",
            "total_amount",
            "lines",
            "approved_at",
        }
    ),
    "order_rejected": _same(_ORDER | {"comment"}),
    "order_commented": Allowed(
        _ORDER | {"comment_id", "author_user_id", "body", "participant_user_ids"},
        _ORDER | {"comment_id", "body"},
    ),
    "commission_entry_created": _same(
        _fields(
            "entry_id",
            "order_id",
            "partner_id",
            "contract_no",
            "source",
            "contract_amount",
            "rate",
            "amount",
            "period",
            "kind",
            "payment_id",
        )
    ),
    "payment_due_soon": _same(_PAYMENT_DUE),
    "payment_overdue": _same(_PAYMENT_DUE),
    "statement_issued": _same(
        _fields("statement_id", "partner_id", "period", "total_amount", "entry_count")
    ),
}


def allowed_data(kind: str, data: dict[str, Any], partner_id: int | None) -> dict[str, Any]:
    """The fields of an event's ``data`` a delivery may carry: for HQ when ``partner_id`` is
    None, else for that partner (partner fields only where they name it)."""
    allowed = ALLOWED.get(kind)
    if allowed is None:
        return {}
    if partner_id is None:
        return {key: value for key, value in data.items() if key in allowed.hq}
    fields = allowed.partner
    if data.get("partner_id") != partner_id:
        fields = fields & NO_LONGER_OWN
    return {
        key: value
        for key, value in data.items()
        if key in fields and (key not in PARTNER_FIELDS or value == partner_id)
    }


def payload_of(
    event: dict[str, Any], kind: str, rendered: Rendered, partner_id: int | None
) -> dict:
    """What a channel is sent about ``event`` (kept on the delivery row, so a retry sends
    the same): HQ-bound when ``partner_id`` is None, else bound for that partner."""
    data = allowed_data(kind, event.get("data") or {}, partner_id)
    return {
        "event_id": event["id"],
        "event": kind,
        "occurred_at": event.get("occurred_at"),
        "language": rendered.language,
        "title": rendered.title,
        "body": rendered.body,
        "subject": {"type": rendered.subject_type, "id": rendered.subject_id},
        "partner_id": data.get("partner_id") if partner_id is None else partner_id,
        "data": data,
    }
