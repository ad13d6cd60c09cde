"""The events the filing service produces (through its outbox): one schema per kind, and
``EVENTS`` (kind -> schema). Times travel as ISO 8601 UTC with a ``Z``, region codes as
6-digit strings.

Customer events carry ``CustomerEvent``'s fields: the customer, its owner
(``partner_id``), its region, source and status, and the end of its protection.
Lead events carry ``LeadEvent``'s fields: the lead, the partner it is assigned to (for
``lead_expired``: the partner whose deadline passed), its region, status and claim deadline.
"""

from __future__ import annotations

from marshmallow import Schema, fields, validate

from services.common.events import EventSchema
from services.common.schemas import Id, IsoDateTime, RegionCode

FILING_SUBMITTED = "filing_submitted"
FILING_STEP_WAITING = "filing_step_waiting"
FILING_APPROVED = "filing_approved"
FILING_REJECTED = "filing_rejected"
CUSTOMER_TRANSFERRED = "customer_transferred"
PROTECTION_ENDING = "protection_ending"
CUSTOMER_RELEASED = "customer_released"
CUSTOMER_CLAIMED = "customer_claimed"
IDLE_RELEASE_NEAR = "idle_release_near"
EXTENSION_REQUESTED = "extension_requested"
EXTENSION_STEP_WAITING = "extension_step_waiting"
EXTENSION_APPROVED = "extension_approved"
EXTENSION_REJECTED = "extension_rejected"
#: ``CustomerReleased.kind`` (as ``schemas.RELEASE_KINDS``).
RELEASE_KINDS = ("owner", "idle", "expired", "terminated")
#: A terminated partner's handover (``handover``): a batch done and more to do (filing's
#: own next step), or all done (HQ is told).
PARTNER_HANDOVER_CONTINUED = "partner_handover_continued"
PARTNER_HANDOVER_DONE = "partner_handover_done"
LEAD_ASSIGNED = "lead_assigned"
#: The leads of one batch of an import that went to one partner, told at once.
LEADS_ASSIGNED = "leads_assigned"
LEAD_UNASSIGNED = "lead_unassigned"
#: The leads of one batch of an import that nobody covers, back in the HQ queue at once.
LEADS_UNASSIGNED = "leads_unassigned"
LEAD_CLAIMED = "lead_claimed"
LEAD_DECLINED = "lead_declined"
LEAD_EXPIRED = "lead_expired"
LEAD_CLAIM_DEADLINE_NEAR = "lead_claim_deadline_near"
#: The claim deadlines near of several leads of one partner, found by one tick, told at once.
LEAD_CLAIM_DEADLINES_NEAR = "lead_claim_deadlines_near"


class Step(EventSchema):
    """An approval step waiting for its approvers: holders of ``permission`` (mode
    ``any``), or the named user ids ``approvers`` (mode ``all``)."""

    name = fields.String(required=True)
    permission = fields.String(required=True)
    mode = fields.String(required=True)
    approvers = fields.List(Id(strict=True), required=True)
    condition = fields.Dict(required=True, allow_none=True)


class CustomerEvent(EventSchema):
    """Something happened to a customer: ``protection_ending`` (its protection ends within
    days) carries only this."""

    customer_id = Id(strict=True, required=True)
    customer_name = fields.String(required=True)
    partner_id = Id(strict=True, required=True)
    region_code = RegionCode(required=True)
    source = fields.String(required=True)
    status = fields.String(required=True)
    protected_until = IsoDateTime(required=True, allow_none=True)


class FilingDecided(CustomerEvent):
    """``filing_approved``: the last step approved; the customer is protected."""

    filing_id = Id(strict=True, required=True)


class FilingWaiting(FilingDecided):
    """``filing_submitted`` (a partner filed the customer) and ``filing_step_waiting`` (a
    step was approved, the next one waits): ``step`` is the step now waiting."""

    step = fields.Nested(Step, required=True)


class FilingRejected(FilingDecided):
    """``filing_rejected``: an approver rejected the filing with ``reason``."""

    reason = fields.String(required=True, allow_none=True)


class CustomerTransferred(CustomerEvent):
    """``customer_transferred``: HQ moved the customer from ``from_partner_id`` to
    ``partner_id``."""

    from_partner_id = Id(strict=True, required=True)
    reason = fields.String(required=True)


class CustomerReleased(CustomerEvent):
    """``customer_released``: the customer went to the public pool; ``partner_id`` is the
    partner that held it. ``kind``: ``expired`` (its protection ended), ``owner`` (the
    partner gave it back, ``reason`` saying why), ``idle`` (no follow-up for the
    partner type's idle days) or ``terminated`` (the partner was terminated, ``reason``
    its termination's). Events from before ``kind`` load as ``expired``."""

    kind = fields.String(load_default="expired", validate=validate.OneOf(RELEASE_KINDS))
    reason = fields.String(load_default=None, allow_none=True)


class PartnerHandover(EventSchema):
    """``partner_handover_continued`` and ``partner_handover_done``: the handover of
    terminated partner ``partner_id`` (its customers ``release``d or ``transfer``red to
    ``to_partner_id``, for ``reason``) and what it has done so far: customers released to
    the pool and transferred, pending filings rejected, open leads passed to another
    partner or back to the HQ queue."""

    partner_id = Id(strict=True, required=True)
    customers = fields.String(required=True, validate=validate.OneOf(("release", "transfer")))
    to_partner_id = Id(strict=True, required=True, allow_none=True)
    reason = fields.String(required=True)
    released = fields.Integer(strict=True, required=True)
    transferred = fields.Integer(strict=True, required=True)
    filings_rejected = fields.Integer(strict=True, required=True)
    leads_reassigned = fields.Integer(strict=True, required=True)
    leads_unassigned = fields.Integer(strict=True, required=True)


class CustomerClaimed(CustomerEvent):
    """``customer_claimed``: ``partner_id`` took the customer from the public pool; it is
    protected for it until ``protected_until``. The partner that released it is not named:
    it is another partner's business who took it."""


class IdleReleaseNear(CustomerEvent):
    """``idle_release_near``: the owner has not followed the customer up, which goes to
    the pool at ``release_at`` unless a follow-up is recorded before; told once per idle
    period."""

    release_at = IsoDateTime(required=True)


class ExtensionDecided(CustomerEvent):
    """``extension_approved``: the last step approved; the customer's protection moved by
    ``days`` and ends at ``protected_until``."""

    extension_id = Id(strict=True, required=True)
    days = fields.Integer(strict=True, required=True)


class ExtensionWaiting(ExtensionDecided):
    """``extension_requested`` (the owner asked for ``days`` more, for ``reason``) and
    ``extension_step_waiting`` (a step was approved, the next one waits): ``step`` is the
    step now waiting."""

    reason = fields.String(required=True)
    step = fields.Nested(Step, required=True)


class ExtensionRejected(ExtensionDecided):
    """``extension_rejected``: an approver rejected the extension with ``reason``; the
    protection is unchanged."""

    reason = fields.String(required=True, allow_none=True)


class LeadEvent(EventSchema):
    """``lead_assigned``, ``lead_unassigned`` (back in the HQ queue),
    ``lead_claim_deadline_near`` and ``lead_expired`` carry only this."""

    lead_id = Id(strict=True, required=True)
    lead_name = fields.String(required=True)
    partner_id = Id(strict=True, required=True, allow_none=True)
    region_code = RegionCode(required=True, allow_none=True)
    status = fields.String(required=True)
    claim_deadline = IsoDateTime(required=True, allow_none=True)


class LeadAssigned(LeadEvent):
    """``lead_assigned``: the lead is the partner's to claim before ``claim_deadline``.
    ``by_hand``: HQ user ``assigned_by`` chose the partner (``POST /leads/{id}/assign``),
    for ``reason`` (may be None). Routing's assignments carry none of the three (their
    consumers see what they always saw)."""

    by_hand = fields.Boolean()
    assigned_by = Id(strict=True, allow_none=True)
    reason = fields.String(allow_none=True)


class LeadsEvent(EventSchema):
    """Several leads of one partner told at once: ``count`` leads, ``lead_ids``, the
    first of them (by id) ``lead_id`` named ``lead_name``; the earliest of their claim
    deadlines."""

    partner_id = Id(strict=True, required=True)
    count = fields.Integer(strict=True, required=True, validate=validate.Range(min=1))
    lead_ids = fields.List(Id(strict=True), required=True)
    lead_id = Id(strict=True, required=True)
    lead_name = fields.String(required=True)
    claim_deadline = IsoDateTime(required=True, allow_none=True)


class LeadsAssigned(LeadsEvent):
    """``leads_assigned``: the leads of one batch of a lead import (``import_id``) that
    are the partner's to claim. An import tells a partner of its leads a batch at a time,
    not one event per lead."""

    import_id = fields.String(required=True)


class LeadsUnassigned(EventSchema):
    """``leads_unassigned``: the leads of one batch of a lead import (``import_id``) that
    no partner covers: ``count`` leads, ``lead_ids``, the first of them (by id)
    ``lead_id`` named ``lead_name``, all in the HQ queue. An import tells them a batch at
    a time, not one ``lead_unassigned`` per lead."""

    count = fields.Integer(strict=True, required=True, validate=validate.Range(min=1))
    lead_ids = fields.List(Id(strict=True), required=True)
    lead_id = Id(strict=True, required=True)
    lead_name = fields.String(required=True)
    import_id = fields.String(required=True)


class LeadClaimDeadlinesNear(LeadsEvent):
    """``lead_claim_deadlines_near``: the claim deadlines of these leads of the partner
    are near (``lead_claim_deadline_near`` for several at once: the leads of an import
    reach their deadlines together)."""


class LeadClaimed(LeadEvent):
    """``lead_claimed``: the partner claimed the lead; ``customer_id`` is its customer."""

    customer_id = Id(strict=True, required=True)


class LeadDeclined(LeadEvent):
    """``lead_declined``: the partner declined the lead with ``reason``."""

    reason = fields.String(required=True)


EVENTS: dict[str, type[Schema]] = {
    FILING_SUBMITTED: FilingWaiting,
    FILING_STEP_WAITING: FilingWaiting,
    FILING_APPROVED: FilingDecided,
    FILING_REJECTED: FilingRejected,
    CUSTOMER_TRANSFERRED: CustomerTransferred,
    PROTECTION_ENDING: CustomerEvent,
    CUSTOMER_RELEASED: CustomerReleased,
    CUSTOMER_CLAIMED: CustomerClaimed,
    PARTNER_HANDOVER_CONTINUED: PartnerHandover,
    PARTNER_HANDOVER_DONE: PartnerHandover,
    IDLE_RELEASE_NEAR: IdleReleaseNear,
    EXTENSION_REQUESTED: ExtensionWaiting,
    EXTENSION_STEP_WAITING: ExtensionWaiting,
    EXTENSION_APPROVED: ExtensionDecided,
    EXTENSION_REJECTED: ExtensionRejected,
    LEAD_ASSIGNED: LeadAssigned,
    LEADS_ASSIGNED: LeadsAssigned,
    LEAD_UNASSIGNED: LeadEvent,
    LEADS_UNASSIGNED: LeadsUnassigned,
    LEAD_CLAIMED: LeadClaimed,
    LEAD_DECLINED: LeadDeclined,
    LEAD_EXPIRED: LeadEvent,
    LEAD_CLAIM_DEADLINE_NEAR: LeadEvent,
    LEAD_CLAIM_DEADLINES_NEAR: LeadClaimDeadlinesNear,
}
