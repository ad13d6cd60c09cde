"""The in-app inbox and notification channels (notify service)."""

from __future__ import annotations

from flask import jsonify
from flask.typing import ResponseReturnValue

from gateway.api.common import Blueprint, document_errors, page_schema, wire
from gateway.context import authenticated, call, current_caller
from services.common.errors import Forbidden
from services.notify.schemas import (
    ChannelCreatedOut,
    ChannelIn,
    ChannelListArgs,
    ChannelOut,
    ChannelUpdate,
    CountOut,
    DeliveryListArgs,
    DeliveryOut,
    NotificationListArgs,
    NotificationOut,
)

blp = Blueprint("notifications", __name__, url_prefix="/api/v1", description="Inbox and channels")


@blp.get("/notifications")
@blp.arguments(NotificationListArgs, location="query")
@blp.response(200, page_schema(NotificationOut))
@document_errors(blp, 401, 422)
@authenticated
def list_notifications(args: dict) -> ResponseReturnValue:
    """Your messages, newest first; `unread=true` for the unread ones."""
    return jsonify(call("notify", "list_notifications", wire(NotificationListArgs, args)))


@blp.get("/notifications/unread-count")
@blp.response(200, CountOut)
@document_errors(blp, 401)
@authenticated
def unread_count() -> ResponseReturnValue:
    return jsonify(call("notify", "count_unread"))


@blp.post("/notifications/<int:message_id>/read")
@blp.response(200, NotificationOut)
@document_errors(blp, 401, 404)
@authenticated
def mark_read(message_id: int) -> ResponseReturnValue:
    """Mark one of your messages read (another user's answers 404)."""
    return jsonify(call("notify", "mark_read", message_id))


@blp.post("/notifications/read-all")
@blp.response(200, CountOut)
@document_errors(blp, 401)
@authenticated
def mark_all_read() -> ResponseReturnValue:
    """Mark all your messages read; `count` says how many were unread."""
    return jsonify(call("notify", "mark_all_read"))


@blp.get("/notification-channels")
@blp.arguments(ChannelListArgs, location="query")
@blp.response(200, page_schema(ChannelOut))
@document_errors(blp, 401, 422)
@authenticated
def list_channels(args: dict) -> ResponseReturnValue:
    """Your channels, and your partner's if you manage them (`channel.manage`)."""
    return jsonify(call("notify", "list_channels", wire(ChannelListArgs, args)))


@blp.post("/notification-channels")
@blp.arguments(ChannelIn)
@blp.response(201, ChannelCreatedOut)
@document_errors(blp, 401, 403, 409, 422)
@authenticated
def create_channel(data: dict) -> ResponseReturnValue:
    """Register an e-mail address or a webhook (`json`, `wecom` or `dingtalk`) for your own
    messages, or with `scope: "partner"` (partner admins) for your partner's events.
    A webhook's signing `secret` is in this answer only. A `dingtalk` webhook whose robot
    uses 加签 takes the robot's `robot_secret` (SEC...), which signs every request URL and is
    never shown again (`robot_signed` says it is set)."""
    if data["scope"] == "partner" and not current_caller().has("channel.manage"):
        raise Forbidden("permission 'channel.manage' is required")
    return jsonify(call("notify", "create_channel", wire(ChannelIn, data))), 201


@blp.get("/notification-channels/<int:channel_id>")
@blp.response(200, ChannelOut)
@document_errors(blp, 401, 404)
@authenticated
def get_channel(channel_id: int) -> ResponseReturnValue:
    return jsonify(call("notify", "get_channel", channel_id))


@blp.patch("/notification-channels/<int:channel_id>")
@blp.arguments(ChannelUpdate)
@blp.response(200, ChannelOut)
@document_errors(blp, 401, 404, 422)
@authenticated
def update_channel(data: dict, channel_id: int) -> ResponseReturnValue:
    """Change the events, format, language or DingTalk `robot_secret` (`null` removes it);
    `active` switches it off or back on (a channel disabled after repeated failures starts
    afresh)."""
    return jsonify(call("notify", "update_channel", channel_id, wire(ChannelUpdate, data)))


@blp.delete("/notification-channels/<int:channel_id>")
@blp.response(204)
@document_errors(blp, 401, 404)
@authenticated
def delete_channel(channel_id: int) -> ResponseReturnValue:
    """Remove the channel and its delivery log."""
    call("notify", "delete_channel", channel_id)
    return "", 204


@blp.get("/notification-channels/<int:channel_id>/deliveries")
@blp.arguments(DeliveryListArgs, location="query")
@blp.response(200, page_schema(DeliveryOut))
@document_errors(blp, 401, 404, 422)
@authenticated
def list_deliveries(args: dict, channel_id: int) -> ResponseReturnValue:
    """The channel's delivery log, newest first: event, status, attempts, last error."""
    return jsonify(call("notify", "list_deliveries", channel_id, wire(DeliveryListArgs, args)))
