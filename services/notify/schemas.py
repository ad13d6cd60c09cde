"""Payloads of the notify service (inbox, channels, deliveries), reused by the gateway."""

from __future__ import annotations

import re
from typing import Any
from urllib.parse import urlsplit

from marshmallow import ValidationError, fields, validate, validates_schema

from services.common.schemas import PageArgs, UtcDateTime, WireSchema

LANGUAGES = ("zh", "en")
#: The events that tell somebody something; a channel subscribes to some (none: all).
EVENT_KINDS = (
    "commission_entry_created",
    "customer_released",
    "customer_transferred",
    "filing_approved",
    "filing_rejected",
    "filing_step_waiting",
    "filing_submitted",
    "lead_assigned",
    "lead_claim_deadline_near",
    "order_approved",
    "order_commented",
    "order_rejected",
    "order_step_waiting",
    "protection_ending",
    "statement_issued",
)
CHANNEL_KINDS = ("email", "webhook")
CHANNEL_SCOPES = ("user", "partner")
WEBHOOK_FORMATS = ("json", "wecom", "dingtalk")
DELIVERY_STATUSES = ("pending", "sent", "failed", "cancelled")
TARGET_MAX = 2000

# Deliberately plain: one @, no spaces, a dot in the domain. The SMTP server is the judge.
_EMAIL = re.compile(r"^[^@\s]{1,64}@[^@\s]+\.[^@\s]+$")


class NotificationListArgs(PageArgs):
    unread = fields.Boolean()
    kind = fields.String(validate=validate.Length(max=50))


class NotificationOut(WireSchema):
    id = fields.Integer()
    kind = fields.String()
    title = fields.String()
    body = fields.String()
    subject_type = fields.String(allow_none=True)
    subject_id = fields.Integer(allow_none=True)
    created_at = UtcDateTime()
    read_at = UtcDateTime(allow_none=True)


class CountOut(WireSchema):
    count = fields.Integer()


def _check_target(kind: str, target: str) -> None:
    if kind == "email":
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


class ChannelIn(WireSchema):
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
    scope = fields.String(load_default="user", validate=validate.OneOf(CHANNEL_SCOPES))
    language = fields.String(load_default="zh", validate=validate.OneOf(LANGUAGES))

    @validates_schema
    def _target_fits_kind(self, data: dict[str, Any], **kwargs: Any) -> None:
        if "kind" not in data or "target" not in data:
            return
        _check_target(data["kind"], data["target"].strip())
        if data["kind"] == "email" and data.get("format") is not None:
            raise ValidationError("e-mail channels have no format", "format")


class ChannelUpdate(WireSchema):
    active = fields.Boolean()
    events = fields.List(
        fields.String(validate=validate.OneOf(EVENT_KINDS)),
        validate=validate.Length(max=len(EVENT_KINDS)),
    )
    format = fields.String(validate=validate.OneOf(WEBHOOK_FORMATS))
    language = fields.String(validate=validate.OneOf(LANGUAGES))


class ChannelListArgs(PageArgs):
    scope = fields.String(validate=validate.OneOf(CHANNEL_SCOPES))


class ChannelOut(WireSchema):
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
    disabled_at = UtcDateTime(allow_none=True)
    disabled_reason = fields.String(allow_none=True)
    created_at = UtcDateTime()


class ChannelCreatedOut(ChannelOut):
    """A new channel; a webhook's signing ``secret`` is shown here and never again."""

    secret = fields.String(allow_none=True)


class DeliveryListArgs(PageArgs):
    status = fields.String(validate=validate.OneOf(DELIVERY_STATUSES))


class DeliveryOut(WireSchema):
    id = fields.Integer()
    event = fields.String()
    event_id = fields.String()
    status = fields.String()
    attempts = fields.Integer()
    last_error = fields.String(allow_none=True)
    at = UtcDateTime()
    created_at = UtcDateTime()
    next_attempt_at = UtcDateTime(allow_none=True)
    sent_at = UtcDateTime(allow_none=True)
