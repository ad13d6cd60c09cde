"""Payloads of the partners service: what its RPC methods take and return.

The gateway validates HTTP bodies with the same schemas; the service validates again.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from marshmallow import ValidationError, fields, validate, validates_schema

from services.common.audit import ACTIONS as AUDIT_ACTIONS
from services.common.regions import ADDRESS_RESOLVE_MAX
from services.common.schemas import (
    Flag,
    FullMatch,
    Id,
    IsoDateTime,
    Money,
    PageArgs,
    RegionCode,
    WireSchema,
    phone_number,
    sort_field,
    visible_text,
)
from services.partners.catalogue import HQ, PARTNER, PERMISSIONS

# -- the vocabulary of the wire, which the models' state columns take ------------------

#: ``Partner.status``: an active partner's users act; a suspended partner's are refused
#: until it is activated again; a terminated partner is final.
ACTIVE, SUSPENDED, TERMINATED = "active", "suspended", "terminated"
PARTNER_STATUSES = (ACTIVE, SUSPENDED, TERMINATED)

ROLE_SCOPES = (HQ, PARTNER)
LANGUAGES = ("zh", "en")

_code = FullMatch(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,39}$", error="letters, digits, _ . -")
_name = [validate.Length(min=1, max=200), visible_text]
_NAME_RULE = {"description": "Unique; no invisible or control characters (zero-width, bidi marks)."}
# As long as the columns they are stored in.
_person = validate.Length(min=1, max=100)
_email = validate.Length(max=200)
# The catalogue's codes; which of them a role may hold depends on its scope
# (rules.check_role_content).
_permissions_doc = {"description": "codes of GET /permissions, of the role's scope"}


def _permission() -> fields.String:
    codes = [permission.code for permission in PERMISSIONS]
    return fields.String(validate=validate.OneOf(codes, error="unknown permission {input}"))


# -- auth -------------------------------------------------------------------------------


class LoginIn(WireSchema):
    username = fields.String(required=True, validate=validate.Length(min=1, max=60))
    password = fields.String(required=True, validate=validate.Length(min=1, max=200))


class RefreshIn(WireSchema):
    refresh_token = fields.String(required=True, validate=validate.Length(min=10, max=200))


class UserSummary(WireSchema):
    id = fields.Integer()
    username = fields.String()
    display_name = fields.String()
    partner_id = fields.Integer(allow_none=True)


class TokensOut(WireSchema):
    access_token = fields.String()
    refresh_token = fields.String()
    token_type = fields.String()
    expires_in = fields.Integer()
    user = fields.Nested(UserSummary)


class MeOut(WireSchema):
    id = fields.Integer()
    username = fields.String()
    display_name = fields.String()
    partner_id = fields.Integer(allow_none=True)
    partner_ids = fields.List(fields.Integer(), allow_none=True)
    #: A regional HQ user's regions (区域经理); null for the whole country.
    regions = fields.List(fields.String(), allow_none=True)
    roles = fields.List(fields.String())
    permissions = fields.List(fields.String())
    language = fields.String()


# -- partners ---------------------------------------------------------------------------

_MASKED = (
    "personal data: masked (王*, 138****8000, w***@example.com) unless the caller's role holds"
    " customer.pii.reveal"
)
_MASKED_OF_USER = _MASKED + "; a user always sees its own"


_GRADE_DOC = "a code of GET /partner-grades, or null"
#: A grade's code: as a partner's or role's code, visible ASCII only.
_grade_code = fields.String(validate=_code, allow_none=True, metadata={"description": _GRADE_DOC})


class PartnerOut(WireSchema):
    id = fields.Integer()
    code = fields.String()
    name = fields.String()
    type = fields.String()
    parent_id = fields.Integer(allow_none=True)
    status = fields.String()
    grade = fields.String(allow_none=True, metadata={"description": _GRADE_DOC})
    territory = fields.List(fields.String())
    contact_name = fields.String(allow_none=True, metadata={"description": _MASKED})
    contact_phone = fields.String(allow_none=True, metadata={"description": _MASKED})
    contact_email = fields.String(allow_none=True, metadata={"description": _MASKED})
    created_at = IsoDateTime()


class PartnerCreate(WireSchema):
    code = fields.String(required=True, validate=_code)
    name = fields.String(required=True, validate=_name, metadata=_NAME_RULE)
    type = fields.String(required=True, validate=validate.Length(min=1, max=40))
    parent_id = Id(load_default=None, allow_none=True)
    grade = fields.String(
        load_default=None, allow_none=True, validate=_code, metadata={"description": _GRADE_DOC}
    )
    territory = fields.List(RegionCode(), load_default=list, validate=validate.Length(max=200))
    contact_name = fields.String(load_default=None, allow_none=True, validate=_person)
    contact_phone = fields.String(load_default=None, allow_none=True, validate=phone_number)
    contact_email = fields.Email(load_default=None, allow_none=True, validate=_email)


class PartnerUpdate(WireSchema):
    name = fields.String(validate=_name, metadata=_NAME_RULE)
    type = fields.String(validate=validate.Length(min=1, max=40))
    parent_id = Id(allow_none=True)
    grade = _grade_code
    contact_name = fields.String(allow_none=True, validate=_person)
    contact_phone = fields.String(allow_none=True, validate=phone_number)
    contact_email = fields.Email(allow_none=True, validate=_email)


class PartnerListArgs(PageArgs):
    status = fields.String(validate=validate.OneOf(PARTNER_STATUSES))
    type = fields.String()
    parent_id = Id()
    region_code = RegionCode()
    q = fields.String(validate=validate.Length(max=100))
    sort = sort_field("id", "code", "name", "status", "created_at")


class TerritoryIn(WireSchema):
    territory = fields.List(RegionCode(), required=True, validate=validate.Length(max=200))


# -- termination as a handover ------------------------------------------------------------

#: ``TerminateIn.customers``: a terminated partner's protected customers go to the public
#: pool, or to one named partner (those whose region it covers; the others to the pool).
HANDOVER_RELEASE, HANDOVER_TRANSFER = "release", "transfer"
HANDOVER_MODES = (HANDOVER_RELEASE, HANDOVER_TRANSFER)
#: The reason a termination without a body (as before handovers existed) is kept with.
DEFAULT_TERMINATION_REASON = "合作终止"
TERMINATION_REASON_MAX = 500


class TerminateIn(WireSchema):
    """How a terminated partner's holdings are handed over. An empty body (or none) is the
    termination as it was before: customers released, with ``DEFAULT_TERMINATION_REASON``;
    any other body gives its ``reason``."""

    customers = fields.String(
        validate=validate.OneOf(HANDOVER_MODES),
        metadata={"description": "release (to the public pool, the default) or transfer"},
    )
    to_partner_id = Id(
        allow_none=True,
        metadata={
            "description": "with transfer only, and then required: another active partner; the"
            " customers whose region it does not cover go to the pool"
        },
    )
    reason = fields.String(
        validate=[validate.Length(min=1, max=TERMINATION_REASON_MAX), visible_text],
        metadata={"description": "required unless the body is empty; not blank"},
    )

    @validates_schema
    def _handover_rule(self, data: dict, **kwargs: Any) -> None:
        errors: dict[str, list[str]] = {}
        if data and not (data.get("reason") or "").strip():
            errors["reason"] = ["required: why the partnership ends"]
        if data.get("customers") == HANDOVER_TRANSFER and data.get("to_partner_id") is None:
            errors["to_partner_id"] = ["required to transfer the customers"]
        if data.get("customers") != HANDOVER_TRANSFER and data.get("to_partner_id") is not None:
            errors["to_partner_id"] = ["only with customers: transfer"]
        if errors:
            raise ValidationError(errors)


class UnsettledCommissionOut(WireSchema):
    entry_count = fields.Integer()
    amount = Money(dump_only=True, signed=True)


class HandoverOut(WireSchema):
    """What a partner holds, before it is terminated (and what is left after)."""

    partner_id = fields.Integer()
    status = fields.String()
    protected_customers = fields.Integer()
    pending_filings = fields.Integer()
    open_leads = fields.Integer()
    draft_orders = fields.Integer()
    submitted_orders = fields.Integer()
    rejected_orders = fields.Integer(
        metadata={"description": "rejected, not revised yet: cancelled with the others"}
    )
    unsettled_commission = fields.Nested(
        UnsettledCommissionOut,
        metadata={"description": "entries on no paid statement: they stay after termination"},
    )


_IDLE_DOC = {
    "description": "a protected customer without a follow-up for this many days goes back to"
    " the public pool; null: never"
}
_COOLDOWN_DOC = {
    "description": "days a partner waits before claiming a customer it released (or let"
    " expire) back from the pool"
}


class PartnerTypeOut(WireSchema):
    code = fields.String()
    name = fields.String()
    protection_days = fields.Integer()
    claim_hours = fields.Integer()
    idle_release_days = fields.Integer(allow_none=True, metadata=_IDLE_DOC)
    reclaim_cooldown_days = fields.Integer(metadata=_COOLDOWN_DOC)


class PartnerTypeUpdate(WireSchema):
    name = fields.String(validate=validate.Length(min=1, max=100))
    protection_days = fields.Integer(validate=validate.Range(min=1, max=3650))
    claim_hours = fields.Integer(validate=validate.Range(min=1, max=720))
    idle_release_days = fields.Integer(
        strict=True, allow_none=True, validate=validate.Range(min=1, max=3650), metadata=_IDLE_DOC
    )
    reclaim_cooldown_days = fields.Integer(
        strict=True, validate=validate.Range(min=0, max=3650), metadata=_COOLDOWN_DOC
    )


#: How many grades an installation may have (PUT /partner-grades sends them all).
MAX_GRADES = 50


class PartnerGradeOut(WireSchema):
    code = fields.String()
    name = fields.String()
    max_protected_customers = fields.Integer(
        allow_none=True,
        metadata={"description": "cap on a partner's protected and pending customers; null: none"},
    )
    protection_days = fields.Integer(
        allow_none=True,
        metadata={"description": "replaces the partner type's protection days; null: the type's"},
    )
    lead_weight = fields.Integer(
        metadata={"description": "share of leads among partners covering a region equally closely"}
    )


class PartnerGradeIn(WireSchema):
    code = fields.String(required=True, validate=_code)
    name = fields.String(
        required=True,
        validate=[validate.Length(min=1, max=100), visible_text],
        metadata={"description": "no invisible or control characters (zero-width, bidi marks)"},
    )
    max_protected_customers = fields.Integer(
        strict=True,
        load_default=None,
        allow_none=True,
        validate=validate.Range(min=0, max=1_000_000),
    )
    protection_days = fields.Integer(
        strict=True, load_default=None, allow_none=True, validate=validate.Range(min=1, max=3650)
    )
    lead_weight = fields.Integer(
        strict=True, load_default=1, validate=validate.Range(min=1, max=100)
    )


def _distinct_codes(grades: list[dict]) -> None:
    codes = [grade["code"].lower() for grade in grades]
    if len(codes) != len(set(codes)):
        raise ValidationError("each code once (whatever its letter case)")


class PartnerGradesIn(WireSchema):
    grades = fields.List(
        fields.Nested(PartnerGradeIn),
        required=True,
        validate=[validate.Length(max=MAX_GRADES), _distinct_codes],
        metadata={
            "description": "every grade, each code once (whatever its letter case): those"
            " missing are removed (409 grade_in_use while a partner has one)"
        },
    )


class RegionOut(WireSchema):
    code = fields.String()
    name = fields.String()
    level = fields.String()
    parent = fields.String(allow_none=True)


class RegionListArgs(WireSchema):
    parent = RegionCode(load_default=None, allow_none=True)


class RegionNamesArgs(WireSchema):
    codes = fields.List(RegionCode(), required=True, validate=validate.Length(max=5000))


class ResolveArgs(WireSchema):
    address = fields.String(required=True, validate=validate.Length(min=1, max=ADDRESS_RESOLVE_MAX))


class ResolveManyArgs(WireSchema):
    addresses = fields.List(
        fields.String(validate=validate.Length(min=1, max=ADDRESS_RESOLVE_MAX)),
        required=True,
        validate=validate.Length(max=5000),
    )


class ResolvedOut(WireSchema):
    province = fields.String(allow_none=True)
    city = fields.String(allow_none=True)
    district = fields.String(allow_none=True)


# -- users and roles --------------------------------------------------------------------


class UserOut(WireSchema):
    id = fields.Integer()
    username = fields.String()
    display_name = fields.String()
    email = fields.String(allow_none=True, metadata={"description": _MASKED_OF_USER})
    phone = fields.String(allow_none=True, metadata={"description": _MASKED_OF_USER})
    partner_id = fields.Integer(allow_none=True)
    roles = fields.List(fields.String())
    active = fields.Boolean()
    language = fields.String()
    created_at = IsoDateTime()
    last_login_at = IsoDateTime(allow_none=True)


# The length only; the rest of the password rule is rules.check_password.
_password = validate.Length(min=10, max=200, error="10 to 200 characters")


class UserCreate(WireSchema):
    username = fields.String(
        required=True,
        validate=FullMatch(r"^[A-Za-z0-9][A-Za-z0-9_.@-]{2,59}$", error="3-60 of a-z 0-9 _ . @ -"),
    )
    password = fields.String(required=True, load_only=True, validate=_password)
    display_name = fields.String(required=True, validate=validate.Length(min=1, max=100))
    email = fields.Email(load_default=None, allow_none=True, validate=_email)
    phone = fields.String(load_default=None, allow_none=True, validate=phone_number)
    partner_id = Id(load_default=None, allow_none=True)
    roles = fields.List(fields.String(), load_default=list)
    active = Flag(load_default=True)
    language = fields.String(load_default="zh", validate=validate.OneOf(LANGUAGES))


class UserUpdate(WireSchema):
    password = fields.String(load_only=True, validate=_password)
    display_name = fields.String(validate=validate.Length(min=1, max=100))
    email = fields.Email(allow_none=True, validate=_email)
    phone = fields.String(allow_none=True, validate=phone_number)
    roles = fields.List(fields.String())
    active = Flag()
    language = fields.String(validate=validate.OneOf(LANGUAGES))


class OwnPasswordIn(WireSchema):
    """The signed-in user's new password, with the current one as proof."""

    current_password = fields.String(
        required=True, load_only=True, validate=validate.Length(min=1, max=200)
    )
    new_password = fields.String(required=True, load_only=True, validate=_password)


class UserListArgs(PageArgs):
    partner_id = Id()
    active = fields.Boolean()
    q = fields.String(validate=validate.Length(max=100))
    sort = sort_field("id", "username")


class RoleOut(WireSchema):
    id = fields.Integer()
    code = fields.String()
    name = fields.String()
    scope = fields.String()
    partner_types = fields.List(fields.String())
    permissions = fields.List(fields.String())
    include_sub_partners = fields.Boolean()
    regions = fields.List(fields.String())
    builtin = fields.Boolean()


_regions_doc = {
    "description": "HQ roles only: the regions (province, city or district codes) its users"
    " are limited to (区域经理): they see and act on the partners whose territory lies in"
    " them, and on those regions' pool and lead queue; empty: the whole country"
}


class RoleCreate(WireSchema):
    code = fields.String(required=True, validate=_code)
    name = fields.String(required=True, validate=validate.Length(min=1, max=100))
    scope = fields.String(required=True, validate=validate.OneOf(ROLE_SCOPES))
    partner_types = fields.List(fields.String(), load_default=list)
    permissions = fields.List(_permission(), required=True, metadata=_permissions_doc)
    include_sub_partners = Flag(load_default=False)
    regions = fields.List(
        RegionCode(), load_default=list, validate=validate.Length(max=200), metadata=_regions_doc
    )


class RoleUpdate(WireSchema):
    name = fields.String(validate=validate.Length(min=1, max=100))
    partner_types = fields.List(fields.String())
    permissions = fields.List(_permission(), metadata=_permissions_doc)
    include_sub_partners = Flag()
    regions = fields.List(RegionCode(), validate=validate.Length(max=200), metadata=_regions_doc)


class RoleListArgs(PageArgs):
    scope = fields.String(validate=validate.OneOf(ROLE_SCOPES))
    sort = sort_field("id", "code")


class PermissionOut(WireSchema):
    code = fields.String()
    name = fields.String()
    scopes = fields.List(fields.String())


class RecipientsArgs(WireSchema):
    permission = fields.String(required=True)
    partner_id = Id(load_default=None, allow_none=True)
    about_partner_id = Id(load_default=None, allow_none=True)


# -- the audit log ----------------------------------------------------------------------


class _Moment(fields.AwareDateTime):
    """A time with a zone, as UTC; one beyond the range of UTC times (the year 9999 at
    -14:00) is the last (or first) of them, which no record passes."""

    def _deserialize(self, value: Any, attr: Any, data: Any, **kwargs: Any) -> datetime:
        moment = super()._deserialize(value, attr, data, **kwargs)
        try:
            return moment.astimezone(UTC)
        except OverflowError:
            return (datetime.max if moment.year > 1 else datetime.min).replace(tzinfo=UTC)


class AuditListArgs(PageArgs):
    actor_id = Id()
    action = fields.String(validate=validate.OneOf(AUDIT_ACTIONS))
    subject_type = fields.String(validate=validate.Length(min=1, max=32))
    subject_id = fields.String(validate=validate.Length(min=1, max=64))
    at_from = _Moment(
        data_key="from", metadata={"description": "records at or after this time (with a zone)"}
    )
    at_to = _Moment(
        data_key="to", metadata={"description": "records at or before this time (with a zone)"}
    )
    sort = sort_field("id")


class AuditRecordOut(WireSchema):
    id = fields.Integer()
    at = IsoDateTime()
    source = fields.String(metadata={"description": "the service that recorded it"})
    action = fields.String()
    actor_id = fields.Integer(allow_none=True)
    actor_name = fields.String(allow_none=True)
    actor_partner_id = fields.Integer(allow_none=True)
    actor_system = fields.String(
        allow_none=True, metadata={"description": "the component, when the platform acted"}
    )
    address = fields.String(allow_none=True, metadata={"description": "the client's address"})
    subject_type = fields.String()
    subject_id = fields.String(allow_none=True)
    detail = fields.Dict()
