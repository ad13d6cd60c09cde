"""Wire schemas of the filing service's RPC payloads (customers, filings, leads), reused by
the gateway."""

from __future__ import annotations

from typing import Any

from marshmallow import ValidationError, fields, pre_load, validate

from services.common.schemas import (
    REGION_CODE_PATTERN,
    Id,
    IsoDateTime,
    PageArgs,
    RegionCode,
    WireSchema,
    phone_number,
    sort_field,
    visible_text,
)
from services.filing.keys import (
    NAME_NFKC_MAX_LENGTH,
    normalise_mobile,
    normalise_uscc,
    unfit_name,
)

# -- the vocabulary of the wire, which the models' state columns take ------------------

#: ``Customer.status``: pending and protected customers block others (their keys).
PENDING, PROTECTED, REJECTED, RELEASED = "pending", "protected", "rejected", "released"
CUSTOMER_STATUSES = (PENDING, PROTECTED, REJECTED, RELEASED)
ACTIVE_STATUSES = (PENDING, PROTECTED)
#: ``Customer.source``: filed by a partner, or claimed from an HQ lead.
FROM_PARTNER, FROM_HQ = "partner", "hq"
CUSTOMER_SOURCES = (FROM_PARTNER, FROM_HQ)

#: ``Filing.status``.
FILING_PENDING, FILING_APPROVED, FILING_REJECTED = "pending", "approved", "rejected"
FILING_STATUSES = (FILING_PENDING, FILING_APPROVED, FILING_REJECTED)

#: ``PoolMove.action`` and, of a release, its ``kind``: the owner gave the customer back,
#: nobody followed it up for the partner type's idle days, or its protection ended.
POOL_RELEASED, POOL_CLAIMED = "released", "claimed"
POOL_ACTIONS = (POOL_RELEASED, POOL_CLAIMED)
BY_OWNER, IDLE, EXPIRED = "owner", "idle", "expired"
#: Released because the partner holding it was terminated (``handover``).
BY_TERMINATION = "terminated"
RELEASE_KINDS = (BY_OWNER, IDLE, EXPIRED, BY_TERMINATION)

#: ``FollowUp.kind``.
FOLLOW_UP_KINDS = ("visit", "call", "message", "other")

#: ``Lead.status``.
UNASSIGNED, ASSIGNED, CLAIMED = "unassigned", "assigned", "claimed"
LEAD_STATUSES = (UNASSIGNED, ASSIGNED, CLAIMED)


def _fit_name(name: str) -> None:
    reason = unfit_name(name)
    if reason is not None:
        raise ValidationError(f"not a name that can be filed: {reason}")


_name = [validate.Length(min=2, max=200), _fit_name]
_NAME_DOC = {
    "description": f"2 to 200 characters, at most {NAME_NFKC_MAX_LENGTH} once normalised "
    "(NFKC); no private-use or unassigned code points"
}
_text = validate.Length(max=300)

# What the document says of the fields below, as keys.py reads them. A USCC's shape: its
# check character is beyond a pattern. Blank is no code, and case does not matter.
_USCC_CHAR = "[0-9A-HJ-NPQRTUWXYa-hj-npqrtuwxy]"
USCC_PATTERN = rf"^\s*({_USCC_CHAR}{{2}}[0-9]{{6}}{_USCC_CHAR}{{10}}\s*)?$"
# A mainland mobile number: +86 or 0086 optional, spaces, brackets and dashes anywhere.
_SEP = r"[\s()-]*"
MOBILE_PATTERN = (
    rf"^{_SEP}((\+|0{_SEP}0){_SEP}8{_SEP}6{_SEP})?1{_SEP}[3-9]({_SEP}[0-9]){{9}}{_SEP}$"
)


class _Uscc(fields.String):
    """A unified social credit code with a correct check character; upper-cased."""

    def __init__(self, **kwargs: Any) -> None:
        metadata = {
            "pattern": USCC_PATTERN,
            "description": "GB 32100-2015, 18 characters with a correct check character",
            "example": "91330106MA2B0GKQ04",
        }
        kwargs["metadata"] = metadata | kwargs.get("metadata", {})
        super().__init__(**kwargs)

    def _deserialize(self, value: Any, attr: Any, data: Any, **kwargs: Any) -> str | None:
        raw = super()._deserialize(value, attr, data, **kwargs)
        if raw is None or raw.strip() == "":
            return None
        code = normalise_uscc(raw)
        if code is None:
            raise ValidationError("not a valid unified social credit code (GB 32100-2015)")
        return code


class _Mobile(fields.String):
    """A mainland mobile number, stored as 11 digits."""

    def __init__(self, **kwargs: Any) -> None:
        metadata = {"pattern": MOBILE_PATTERN, "example": "138 0013 8000"}
        kwargs["metadata"] = metadata | kwargs.get("metadata", {})
        super().__init__(**kwargs)

    def _deserialize(self, value: Any, attr: Any, data: Any, **kwargs: Any) -> str:
        raw = super()._deserialize(value, attr, data, **kwargs)
        number = normalise_mobile(raw)
        if number is None:
            raise ValidationError("not a mobile phone number (11 digits, 1[3-9]...)")
        return number


class CustomerCheckIn(WireSchema):
    name = fields.String(required=True, validate=_name, metadata=_NAME_DOC)
    uscc = _Uscc(load_default=None, allow_none=True)
    phone = _Mobile(load_default=None, allow_none=True)


class CheckOut(WireSchema):
    conflict = fields.Boolean()


class CustomerFileIn(WireSchema):
    name = fields.String(required=True, validate=_name, metadata=_NAME_DOC)
    uscc = _Uscc(load_default=None, allow_none=True)
    contact_name = fields.String(required=True, validate=validate.Length(min=1, max=100))
    phone = _Mobile(required=True)
    address = fields.String(load_default=None, allow_none=True, validate=_text)
    region_code = RegionCode(required=True)
    industry = fields.String(load_default=None, allow_none=True, validate=validate.Length(max=100))


class ActionOut(WireSchema):
    user_id = fields.Integer()
    action = fields.String()
    comment = fields.String(allow_none=True)
    at = fields.String()


class StepOut(WireSchema):
    name = fields.String()
    permission = fields.String()
    mode = fields.String()
    approvers = fields.List(fields.Integer())
    condition = fields.Dict(allow_none=True)
    status = fields.String()
    actions = fields.List(fields.Nested(ActionOut))


class NearMatchOut(WireSchema):
    customer_id = fields.Integer()
    customer_name = fields.String()
    partner_id = fields.Integer()
    similarity = fields.Float(metadata={"description": "of the normalised names, 0 to 1"})
    same_address = fields.Boolean()
    reason = fields.String(metadata={"example": "名称相似度 0.93，地址相同"})


class FilingOut(WireSchema):
    id = fields.Integer()
    customer_id = fields.Integer()
    customer_name = fields.String()
    partner_id = fields.Integer()
    status = fields.String()
    steps = fields.List(fields.Nested(StepOut))
    created_at = IsoDateTime()
    decided_at = IsoDateTime(allow_none=True)
    near_matches = fields.List(
        fields.Nested(NearMatchOut),
        metadata={
            "description": "Shown to HQ users who approve filings, never to partners: "
            "customers of other partners that were close to this one (name or address) "
            "when it was filed."
        },
    )


_MASKED = (
    "personal data: masked (138****8000, 王*, the street as ****) unless the caller's role"
    " holds customer.pii.reveal"
)


class CustomerOut(WireSchema):
    id = fields.Integer()
    name = fields.String()
    uscc = fields.String(allow_none=True)
    contact_name = fields.String(metadata={"description": _MASKED})
    phone = fields.String(metadata={"description": _MASKED})
    address = fields.String(allow_none=True, metadata={"description": _MASKED})
    region_code = fields.String()
    industry = fields.String(allow_none=True)
    source = fields.String()
    status = fields.String()
    owner_partner_id = fields.Integer()
    protected_until = IsoDateTime(allow_none=True)
    created_at = IsoDateTime()
    filing = fields.Nested(FilingOut, allow_none=True)


class RevealIn(WireSchema):
    reason = fields.String(
        required=True,
        validate=validate.Length(min=2, max=200),
        metadata={"description": "why the contact data is needed; kept in the audit log"},
    )


class RevealOut(WireSchema):
    id = fields.Integer()
    contact_name = fields.String()
    phone = fields.String()
    address = fields.String(allow_none=True)


class CustomerListArgs(PageArgs):
    status = fields.String(validate=validate.OneOf(CUSTOMER_STATUSES))
    region_code = RegionCode()
    q = fields.String(
        validate=validate.Length(max=100),
        metadata={"description": "a part of the name, or the whole phone number"},
    )
    partner_id = Id()
    source = fields.String(validate=validate.OneOf(CUSTOMER_SOURCES))
    sort = sort_field("id", "name", "created_at", "protected_until", "status", "region_code")


class TransferIn(WireSchema):
    partner_id = Id(required=True)
    reason = fields.String(required=True, validate=validate.Length(min=1, max=500))


def _said(value: str) -> None:
    """A validator of free text: something besides blanks, and no code point a reader
    cannot see (line breaks and tabs aside)."""
    if not value.strip():
        raise ValidationError("must not be blank")
    visible_text(value.replace("\r\n", "").replace("\n", "").replace("\t", ""))


class ReleaseIn(WireSchema):
    reason = fields.String(
        required=True,
        validate=[validate.Length(min=1, max=500), _said],
        metadata={
            "description": "why the customer is given back, kept with the release: not blank,"
            " no invisible or control characters (line breaks and tabs aside)"
        },
    )


class PoolListArgs(PageArgs):
    region_code = RegionCode(metadata={"description": "a province, city or district"})
    q = fields.String(
        validate=validate.Length(max=100), metadata={"description": "a part of the name"}
    )
    industry = fields.String(validate=validate.Length(max=100))
    sort = sort_field("id", "name", "region_code", "released_at")


class PoolCustomerOut(WireSchema):
    """A customer in the public pool, its contact data masked."""

    id = fields.Integer()
    name = fields.String()
    uscc = fields.String(allow_none=True)
    contact_name = fields.String(metadata={"description": "masked"})
    phone = fields.String(metadata={"description": "masked"})
    address = fields.String(allow_none=True, metadata={"description": "masked"})
    region_code = fields.String()
    industry = fields.String(allow_none=True)
    released_at = IsoDateTime(allow_none=True)
    released_by_partner_id = fields.Integer(
        allow_none=True, metadata={"description": "HQ only: the partner that last held it"}
    )


class FollowUpIn(WireSchema):
    kind = fields.String(required=True, validate=validate.OneOf(FOLLOW_UP_KINDS))
    body = fields.String(
        required=True,
        validate=[validate.Length(min=1, max=2000), _said],
        metadata={
            "description": "what was done or said: not blank, no invisible or control"
            " characters (line breaks and tabs aside)"
        },
    )
    next_at = IsoDateTime(
        load_default=None, allow_none=True, metadata={"description": "the next contact planned"}
    )


class FollowUpOut(WireSchema):
    id = fields.Integer()
    customer_id = fields.Integer()
    kind = fields.String(metadata={"enum": list(FOLLOW_UP_KINDS)})
    body = fields.String()
    next_at = IsoDateTime(allow_none=True)
    created_by = fields.Integer(allow_none=True)
    created_at = IsoDateTime()


#: ``Extension.status``: waiting for its approval flow, approved (the protection moved),
#: rejected by an approver, or cancelled (the customer left its owner before a decision).
EXTENSION_PENDING, EXTENSION_APPROVED = "pending", "approved"
EXTENSION_REJECTED, EXTENSION_CANCELLED = "rejected", "cancelled"
EXTENSION_STATUSES = (
    EXTENSION_PENDING,
    EXTENSION_APPROVED,
    EXTENSION_REJECTED,
    EXTENSION_CANCELLED,
)
#: The days one extension (延期) adds at most.
EXTENSION_DAYS_MAX = 365


class ExtensionIn(WireSchema):
    days = fields.Integer(
        required=True,
        strict=True,
        validate=validate.Range(min=1, max=EXTENSION_DAYS_MAX),
        metadata={"description": "days added to the end of the protection"},
    )
    reason = fields.String(
        required=True,
        validate=[validate.Length(min=1, max=500), _said],
        metadata={
            "description": "why more time is needed: not blank, no invisible or control"
            " characters (line breaks and tabs aside)"
        },
    )


class ExtensionOut(WireSchema):
    id = fields.Integer()
    customer_id = fields.Integer()
    customer_name = fields.String()
    partner_id = fields.Integer()
    days = fields.Integer()
    reason = fields.String()
    status = fields.String(metadata={"enum": list(EXTENSION_STATUSES)})
    steps = fields.List(fields.Nested(StepOut))
    requested_by = fields.Integer(allow_none=True)
    created_at = IsoDateTime()
    decided_at = IsoDateTime(allow_none=True)
    protected_until_before = IsoDateTime(
        allow_none=True, metadata={"description": "the end of the protection when requested"}
    )
    protected_until_after = IsoDateTime(
        allow_none=True, metadata={"description": "the end of the protection once approved"}
    )


class FollowUpListArgs(PageArgs):
    sort = sort_field("created_at", "next_at")


class ExtensionListArgs(PageArgs):
    status = fields.String(validate=validate.OneOf(EXTENSION_STATUSES))
    customer_id = Id()
    partner_id = Id()
    sort = sort_field("id", "created_at", "status")


class FilingListArgs(PageArgs):
    status = fields.String(validate=validate.OneOf(FILING_STATUSES))
    partner_id = Id()
    sort = sort_field("id", "created_at", "decided_at", "status")


class LeadIn(WireSchema):
    name = fields.String(required=True, validate=_name, metadata=_NAME_DOC)
    contact_name = fields.String(required=True, validate=validate.Length(min=1, max=100))
    phone = fields.String(required=True, validate=phone_number)
    # Empty (a spreadsheet's empty cell) is no region, as null is.
    region_code = RegionCode(
        load_default=None,
        allow_none=True,
        metadata={"pattern": f"^$|{REGION_CODE_PATTERN}", "description": "empty or null: none"},
    )
    address = fields.String(load_default=None, allow_none=True, validate=_text)
    notes = fields.String(load_default=None, allow_none=True, validate=validate.Length(max=2000))

    @pre_load
    def _blank_is_none(self, data: Any, **kwargs: Any) -> Any:
        # Imported spreadsheets give empty cells as "".
        if isinstance(data, dict):
            return {
                k: (None if v == "" and k in ("region_code", "address", "notes") else v)
                for k, v in data.items()
            }
        return data


class LeadEventOut(WireSchema):
    action = fields.String()
    partner_id = fields.Integer(allow_none=True)
    user_id = fields.Integer(allow_none=True)
    reason = fields.String(allow_none=True)
    at = IsoDateTime()


class LeadOut(WireSchema):
    id = fields.Integer()
    name = fields.String()
    contact_name = fields.String(metadata={"description": _MASKED})
    phone = fields.String(metadata={"description": _MASKED})
    region_code = fields.String(allow_none=True)
    address = fields.String(allow_none=True, metadata={"description": _MASKED})
    notes = fields.String(allow_none=True)
    status = fields.String()
    assigned_partner_id = fields.Integer(allow_none=True)
    assigned_at = IsoDateTime(allow_none=True)
    claim_deadline = IsoDateTime(allow_none=True)
    customer_id = fields.Integer(allow_none=True)
    created_at = IsoDateTime()
    history = fields.List(fields.Nested(LeadEventOut))


class LeadListArgs(PageArgs):
    status = fields.String(validate=validate.OneOf(LEAD_STATUSES))
    partner_id = Id()
    region_code = RegionCode(
        metadata={"description": "leads in this region: a province or city takes in its parts"}
    )
    q = fields.String(
        validate=validate.Length(max=100),
        metadata={"description": "a part of the name, or the whole phone number"},
    )
    sort = sort_field("id", "created_at", "claim_deadline", "status", "region_code")


class DeclineIn(WireSchema):
    reason = fields.String(required=True, validate=validate.Length(min=1, max=1000))


class LeadAssignIn(WireSchema):
    partner_id = Id(
        required=True, metadata={"description": "an active partner covering the lead's region"}
    )
    reason = fields.String(
        load_default=None,
        allow_none=True,
        validate=[validate.Length(max=500), _said],
        metadata={"description": "why by hand; the partner is told it"},
    )


#: ``LeadImport.status``: the rows are arriving (``receiving``), all here and waiting for
#: the filing service (``queued``), being imported (``running``), imported (``done``), or
#: stopped by a fault (``failed``, with ``failure``).
RECEIVING, QUEUED, RUNNING, DONE, FAILED = "receiving", "queued", "running", "done", "failed"
IMPORT_STATUSES = (RECEIVING, QUEUED, RUNNING, DONE, FAILED)
#: The rows of one file at most, and of one call that carries them.
IMPORT_ROWS_MAX = 100_000
IMPORT_CHUNK_ROWS = 5_000
#: The row errors an import keeps (the first ones by row); the rest are counted.
IMPORT_ERRORS_KEPT = 1_000
#: What a client may choose as an import's id (its ``Idempotency-Key``): visible ASCII.
IMPORT_ID_PATTERN = r"^[\x21-\x7e]{1,200}$"


class LeadImportIn(WireSchema):
    """Rows of one file, ``offset`` the place of the first in it; a file of more than
    ``IMPORT_CHUNK_ROWS`` rows comes in several calls, the ``last`` one completing it."""

    id = fields.String(required=True, validate=validate.Regexp(IMPORT_ID_PATTERN))
    rows = fields.List(
        fields.Dict(), required=True, validate=validate.Length(max=IMPORT_CHUNK_ROWS)
    )
    offset = fields.Integer(load_default=0, validate=validate.Range(min=0, max=IMPORT_ROWS_MAX))
    total = fields.Integer(load_default=None, validate=validate.Range(min=0, max=IMPORT_ROWS_MAX))
    last = fields.Boolean(load_default=True)


class RowErrorOut(WireSchema):
    row = fields.Integer()
    errors = fields.Dict()


class LeadImportOut(WireSchema):
    """The summary of a finished import."""

    id = fields.String()
    created = fields.Integer()
    assigned = fields.Integer()
    unassigned = fields.Integer()
    errors = fields.List(
        fields.Nested(RowErrorOut),
        metadata={"description": f"by row; the first {IMPORT_ERRORS_KEPT} are kept"},
    )
    errors_total = fields.Integer(metadata={"description": "every row refused"})


class LeadImportJobOut(LeadImportOut):
    """An import and how far it has come."""

    status = fields.String(metadata={"enum": list(IMPORT_STATUSES)})
    total = fields.Integer(metadata={"description": "rows in the file"})
    received = fields.Integer(metadata={"description": "rows the filing service holds"})
    done = fields.Integer(metadata={"description": "rows imported or refused so far"})
    failure = fields.String(allow_none=True)
    created_at = IsoDateTime()
    started_at = IsoDateTime(allow_none=True)
    finished_at = IsoDateTime(allow_none=True)


class LeadImportListArgs(PageArgs):
    status = fields.String(validate=validate.OneOf(IMPORT_STATUSES))
    sort = sort_field("created_at")
