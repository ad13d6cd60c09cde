"""The wire schemas of the notify service's RPC payloads (inbox, channels, deliveries),
reused by the gateway; the values of state columns come from ``models``."""

from __future__ import annotations

import re
from typing import Any
from urllib.parse import urlsplit

from marshmallow import ValidationError, fields, validate, validates_schema

from services.common.schemas import Flag, IsoDateTime, PageArgs, WireSchema, sort_field

# -- the vocabulary of the wire, which the models' state columns take ------------------

#: Languages of messages and channels (Chinese is the default).
ZH, EN = "zh", "en"
LANGUAGES = (ZH, EN)

#: ``Channel.scope``: a user's own channel, or a partner's (registered by its admin).
USER, PARTNER = "user", "partner"
CHANNEL_SCOPES = (USER, PARTNER)
#: ``Channel.kind``.
EMAIL, WEBHOOK = "email", "webhook"
CHANNEL_KINDS = (EMAIL, WEBHOOK)
#: ``Channel.format`` of a webhook: ours, 企业微信 robot markdown, 钉钉 robot markdown. Only
#: a DingTalk robot takes a signing secret (加签).
JSON_FORMAT, WECOM, DINGTALK = "json", "wecom", "dingtalk"
WEBHOOK_FORMATS = (JSON_FORMAT, WECOM, DINGTALK)

#: ``Delivery.status``.
PENDING, SENT, FAILED, CANCELLED = "pending", "sent", "failed", "cancelled"
DELIVERY_STATUSES = (PENDING, SENT, FAILED, CANCELLED)

#: The events that tell somebody something; a channel subscribes to some (none: all).
EVENT_KINDS = (
    "commission_entry_created",
    "customer_claimed",
    "customer_released",
    "customer_transferred",
    "extension_approved",
    "extension_rejected",
    "extension_requested",
    "extension_step_waiting",
    "filing_approved",
    "filing_rejected",
    "filing_step_waiting",
    "filing_submitted",
    "idle_release_near",
    "lead_assigned",
    "lead_claim_deadline_near",
    "lead_claim_deadlines_near",
    "leads_assigned",
    "order_approved",
    "order_commented",
    "order_rejected",
    "order_step_waiting",
    "partner_handover_done",
    "payment_due_soon",
    "payment_overdue",
    "protection_ending",
    "statement_issued",
)
TARGET_MAX = 2000
ROBOT_SECRET_MAX = 200
#: The format whose robot takes a signing secret (钉钉 加签).
SIGNED_ROBOT_FORMAT = DINGTALK
NOT_A_DINGTALK_ROBOT = "only a DingTalk robot webhook (format dingtalk) takes a robot secret"

# Deliberately plain: one @, no spaces, a dot in the domain. The SMTP server is the judge.
_EMAIL = re.compile(r"^[^@\s]{1,64}@[^@\s]+\.[^@\s]+$")
# DingTalk shows its robot secrets as "SEC" and printable ASCII; a space is a paste mistake.
_ROBOT_SECRET = re.compile(r"^SEC[\x21-\x7e]+$")


class NotificationListArgs(PageArgs):
    unread = fields.Boolean()
    kind = fields.String(validate=validate.Length(max=50))
    sort = sort_field("created_at")


class NotificationOut(WireSchema):
    id = fields.Integer()
    kind = fields.String()
    title = fields.String()
    body = fields.String()
    subject_type = fields.String(allow_none=True)
    subject_id = fields.Integer(allow_none=True)
    created_at = IsoDateTime()
    read_at = IsoDateTime(allow_none=True)


class CountOut(WireSchema):
    count = fields.Integer()


def _check_target(kind: str, target: str) -> None:
    if kind == EMAIL:
        if not _EMAIL.match(target) or len(target) > 254:
            raise ValidationError("not an e-mail address", "target")
        return
    try:
        parts = urlsplit(target)
        parts.port  # noqa: B018 - a malformed port raises here
    except ValueError as exc:
        raise ValidationError("not a URL", "target") from exc
    if parts.scheme not in ("http", "https"):
        raise ValidationError("only http and https URLs are accepted", "target")
    if not parts.hostname or any(c.isspace() for c in target):
        raise ValidationError("not a URL", "target")


def _check_robot_secret(value: str) -> None:
    if len(value) > ROBOT_SECRET_MAX:
        raise ValidationError(f"at most {ROBOT_SECRET_MAX} characters")
    if not _ROBOT_SECRET.fullmatch(value):  # "$" alone would let a final newline through
        raise ValidationError(
            'a DingTalk robot secret: "SEC" then printable ASCII characters, no spaces'
        )


#: How the document states ``_check_robot_secret``.
_ROBOT_SECRET_DOC = {"pattern": _ROBOT_SECRET.pattern, "maxLength": ROBOT_SECRET_MAX}


class ChannelIn(WireSchema):
    """A new channel. ``robot_secret`` is the DingTalk robot's 加签 secret (webhooks of format
    ``dingtalk`` only); it signs each request URL and no answer ever shows it."""

    kind = fields.String(required=True, validate=validate.OneOf(CHANNEL_KINDS))
    target = fields.String(required=True, validate=validate.Length(min=3, max=TARGET_MAX))
    format = fields.String(
        load_default=None, allow_none=True, validate=validate.OneOf(WEBHOOK_FORMATS)
    )
    events = fields.List(
        fields.String(validate=validate.OneOf(EVENT_KINDS)),
        load_default=list,
        validate=validate.Length(max=len(EVENT_KINDS)),
    )
    scope = fields.String(load_default=USER, validate=validate.OneOf(CHANNEL_SCOPES))
    language = fields.String(load_default=ZH, validate=validate.OneOf(LANGUAGES))
    robot_secret = fields.String(
        load_default=None,
        allow_none=True,
        validate=_check_robot_secret,
        metadata=_ROBOT_SECRET_DOC,
    )

    @validates_schema
    def _target_fits_kind(self, data: dict[str, Any], **kwargs: Any) -> None:
        if "kind" not in data or "target" not in data:
            return
        _check_target(data["kind"], data["target"].strip())
        if data["kind"] == EMAIL and data.get("format") is not None:
            raise ValidationError("e-mail channels have no format", "format")
        if data.get("robot_secret") is not None and (
            data["kind"] != WEBHOOK or data.get("format") != SIGNED_ROBOT_FORMAT
        ):
            raise ValidationError(NOT_A_DINGTALK_ROBOT, "robot_secret")


class ChannelUpdate(WireSchema):
    """Changes to a channel. ``robot_secret`` sets or rotates the DingTalk robot secret and
    ``null`` removes it; it is checked against the channel's format after this change. A
    channel that keeps a robot secret cannot leave ``dingtalk``: such a change is refused
    (422) until the same request, or an earlier one, sends ``robot_secret: null``."""

    active = Flag()
    events = fields.List(
        fields.String(validate=validate.OneOf(EVENT_KINDS)),
        validate=validate.Length(max=len(EVENT_KINDS)),
    )
    format = fields.String(validate=validate.OneOf(WEBHOOK_FORMATS))
    language = fields.String(validate=validate.OneOf(LANGUAGES))
    robot_secret = fields.String(
        allow_none=True, validate=_check_robot_secret, metadata=_ROBOT_SECRET_DOC
    )

    @validates_schema
    def _secret_fits_format(self, data: dict[str, Any], **kwargs: Any) -> None:
        if (
            data.get("robot_secret") is not None
            and "format" in data
            and data["format"] != SIGNED_ROBOT_FORMAT
        ):
            raise ValidationError(NOT_A_DINGTALK_ROBOT, "robot_secret")


class ChannelListArgs(PageArgs):
    scope = fields.String(validate=validate.OneOf(CHANNEL_SCOPES))
    sort = sort_field("id")


class ChannelOut(WireSchema):
    """A channel as its owner sees it: never a secret; ``robot_signed`` says whether a
    DingTalk robot secret signs its requests."""

    id = fields.Integer()
    kind = fields.String()
    scope = fields.String()
    partner_id = fields.Integer(allow_none=True)
    target = fields.String()
    format = fields.String(allow_none=True)
    events = fields.List(fields.String())
    language = fields.String()
    active = fields.Boolean()
    consecutive_failures = fields.Integer()
    disabled_at = IsoDateTime(allow_none=True)
    disabled_reason = fields.String(allow_none=True)
    robot_signed = fields.Boolean()
    created_at = IsoDateTime()


class ChannelCreatedOut(ChannelOut):
    """A new channel; a webhook's signing ``secret`` is shown here and never again."""

    secret = fields.String(allow_none=True)


class DeliveryListArgs(PageArgs):
    status = fields.String(validate=validate.OneOf(DELIVERY_STATUSES))
    sort = sort_field("id")


class DeliveryOut(WireSchema):
    id = fields.Integer()
    event = fields.String()
    event_id = fields.String()
    status = fields.String()
    attempts = fields.Integer()
    last_error = fields.String(allow_none=True)
    at = IsoDateTime()
    created_at = IsoDateTime()
    next_attempt_at = IsoDateTime(allow_none=True)
    sent_at = IsoDateTime(allow_none=True)
