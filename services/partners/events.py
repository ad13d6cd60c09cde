"""The events the partners service produces, one schema per kind (``EVENTS``).

The data of each kind is built through its schema (``event_data``) and read by consumers
through it (``load_event``). Times are ISO 8601 UTC (``"2026-12-02T08:00:00Z"``), region
codes 6-digit strings.

``partner_created``, ``partner_updated``, ``partner_suspended``, ``partner_activated``,
``partner_terminated`` (``PartnerChanged``)
    The partner as it is after the change, as ``GET /partners/{id}`` shows it (its
    ``grade`` too; events written before grades existed have none).
    ``partner_terminated`` adds ``handover`` (``Handover``): what becomes of its customers.
``territory_changed`` (``TerritoryChanged``)
    What decides who covers a region: the partner's type, status, parent and territory.
    Follows every partner event, and a change of the type or parent.
``partner_type_changed`` (``PartnerTypeChanged``)
    HQ changed a partner type's name, protection days, claim hours, idle release days or
    reclaim cooldown.
``user_changed`` (``UserChanged``)
    A user was created or changed (roles, activity, profile, password).
``role_changed`` (``RoleChanged``)
    A role was created or changed (also when migrations put the HQ admin role back whole).

This module imports only marshmallow and ``services.common``: any service may import it.
"""

from __future__ import annotations

from marshmallow import Schema, fields, validate

from services.common.events import EventSchema
from services.common.schemas import Id, IsoDateTime, RegionCode

PARTNER_CREATED = "partner_created"
PARTNER_UPDATED = "partner_updated"
PARTNER_SUSPENDED = "partner_suspended"
PARTNER_ACTIVATED = "partner_activated"
PARTNER_TERMINATED = "partner_terminated"
TERRITORY_CHANGED = "territory_changed"
PARTNER_TYPE_CHANGED = "partner_type_changed"
USER_CHANGED = "user_changed"
ROLE_CHANGED = "role_changed"


class Handover(EventSchema):
    """How a terminated partner's holdings are handed over (``partner_terminated``): its
    protected customers ``release``d to the pool or ``transfer``red to ``to_partner_id``
    (those whose region it covers), with ``reason``."""

    customers = fields.String(required=True, validate=validate.OneOf(("release", "transfer")))
    to_partner_id = Id(strict=True, allow_none=True, load_default=None)
    reason = fields.String(required=True)


class PartnerChanged(EventSchema):
    """A partner after its creation, a change or a change of status."""

    id = Id(strict=True, required=True)
    code = fields.String(required=True)
    name = fields.String(required=True)
    type = fields.String(required=True)
    parent_id = Id(strict=True, required=True, allow_none=True)
    status = fields.String(required=True)
    # A grade changes no caller's rights; the event tells it for consumers that show or
    # count partners by grade.
    grade = fields.String(allow_none=True, load_default=None)
    territory = fields.List(RegionCode(), required=True)
    # No contact data: personal data stays sealed in the partners database, and no
    # consumer needs it.
    created_at = IsoDateTime(required=True)
    # ``partner_terminated`` only (None on every other kind, and on terminations told before
    # handovers existed: release, as then).
    handover = fields.Nested(Handover, allow_none=True, load_default=None)


class TerritoryChanged(EventSchema):
    """What a copy of territories needs to say who covers a region."""

    partner_id = Id(strict=True, required=True)
    code = fields.String(required=True)
    type = fields.String(required=True)
    status = fields.String(required=True)
    parent_id = Id(strict=True, required=True, allow_none=True)
    territory = fields.List(RegionCode(), required=True)


class PartnerTypeChanged(EventSchema):
    """A partner type after HQ changed it."""

    code = fields.String(required=True)
    name = fields.String(required=True)
    protection_days = fields.Integer(required=True)
    claim_hours = fields.Integer(required=True)
    idle_release_days = fields.Integer(allow_none=True, load_default=None)
    reclaim_cooldown_days = fields.Integer(load_default=30)


class UserChanged(EventSchema):
    """A user after its creation or a change; ``roles`` are role codes."""

    id = Id(strict=True, required=True)
    username = fields.String(required=True)
    display_name = fields.String(required=True)
    # No e-mail nor phone: personal data (notify asks for a recipient's e-mail when it
    # sends one).
    partner_id = Id(strict=True, required=True, allow_none=True)
    roles = fields.List(fields.String(), required=True)
    active = fields.Boolean(required=True)
    language = fields.String(required=True)
    created_at = IsoDateTime(required=True)
    last_login_at = IsoDateTime(allow_none=True)


class RoleChanged(EventSchema):
    """A role after its creation or a change."""

    id = Id(strict=True, required=True)
    code = fields.String(required=True)
    name = fields.String(required=True)
    scope = fields.String(required=True)
    partner_types = fields.List(fields.String(), required=True)
    permissions = fields.List(fields.String(), required=True)
    include_sub_partners = fields.Boolean(required=True)
    builtin = fields.Boolean(required=True)


#: The kinds after which a caller the gateway resolved (``get_caller``: roles, permissions,
#: partner, data scope) may be wrong: the gateway's caller cache listens to these.
CALLER_CHANGES = (
    PARTNER_CREATED,
    PARTNER_UPDATED,
    PARTNER_SUSPENDED,
    PARTNER_ACTIVATED,
    PARTNER_TERMINATED,
    TERRITORY_CHANGED,
    USER_CHANGED,
    ROLE_CHANGED,
)

EVENTS: dict[str, type[Schema]] = {
    PARTNER_CREATED: PartnerChanged,
    PARTNER_UPDATED: PartnerChanged,
    PARTNER_SUSPENDED: PartnerChanged,
    PARTNER_ACTIVATED: PartnerChanged,
    PARTNER_TERMINATED: PartnerChanged,
    TERRITORY_CHANGED: TerritoryChanged,
    PARTNER_TYPE_CHANGED: PartnerTypeChanged,
    USER_CHANGED: UserChanged,
    ROLE_CHANGED: RoleChanged,
}
