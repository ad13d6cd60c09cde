"""The rules of the notify service: who owns an inbox or a channel, what a channel may be
changed to, where a webhook may point, and how deliveries are retried and a failing
channel given up. Pure: they decide and raise typed errors; no database, no RPC.

Who hears of an event is decided in ``recipients``, what a channel is sent in
``payloads``, what a message says in ``messages``.
"""

from __future__ import annotations

from datetime import timedelta

from services.common.config import NotifySettings
from services.common.context import Caller
from services.common.errors import Conflict, Forbidden, InvalidInput
from services.notify.models import Channel
from services.notify.schemas import DINGTALK, NOT_A_DINGTALK_ROBOT, USER, WEBHOOK
from services.notify.targets import Resolver, webhook_target_problem

#: The permission of a partner's admin over its partner's channels.
MANAGE = "channel.manage"
#: Channels a user may register for themselves, and a partner for itself.
MAX_CHANNELS = 20
#: The longest error kept on a delivery or a channel.
ERROR_MAX = 1000


# -- whose --------------------------------------------------------------------------------


def inbox_owner(caller: Caller) -> int:
    """The user whose inbox the caller reads; the platform itself has none (Forbidden)."""
    if caller.user_id is None:
        raise Forbidden("notifications belong to a user")
    return caller.user_id


def channel_user(caller: Caller) -> int:
    """The user the caller's channels belong to; the platform itself has none (Forbidden)."""
    if caller.user_id is None:
        raise Forbidden("channels belong to a user")
    return caller.user_id


def administers_partner_channels(caller: Caller) -> bool:
    """Whether the caller sees and changes its partner's channels."""
    return caller.partner_id is not None and caller.has(MANAGE)


def owner_of_new_channel(caller: Caller, scope: str) -> tuple[int, int | None]:
    """(owner user id, partner id) of a channel the caller registers in ``scope``: a
    partner's channel is registered by one of its admins only."""
    user_id = channel_user(caller)
    if scope == USER:
        return user_id, None
    if caller.partner_id is None:
        raise Forbidden("partner channels are registered by a partner's admin")
    caller.require(MANAGE)
    return user_id, caller.partner_id


def check_room(channels_owned: int) -> None:
    """A user, or a partner, keeps at most ``MAX_CHANNELS`` channels (Conflict)."""
    if channels_owned >= MAX_CHANNELS:
        raise Conflict(f"at most {MAX_CHANNELS} channels", "too_many_channels")


# -- what a channel may be ------------------------------------------------------------------


def check_webhook_target(url: str, settings: NotifySettings, resolve: Resolver) -> None:
    """The server may call ``url`` (``targets``), else InvalidInput naming why not."""
    problem = webhook_target_problem(url, settings.webhook_allow_private, resolve)
    if problem:
        raise InvalidInput(
            "the webhook URL is not allowed", "webhook_target_not_allowed", {"target": [problem]}
        )


def check_robot_secret_change(channel: Channel, data: dict) -> None:
    """Refuse a change that would leave a robot secret on a channel that is not a
    ``dingtalk`` webhook (the secret would sign nothing, or sign the wrong robot); judged
    against the format the channel has after the change."""
    fmt = data.get("format", channel.format)
    if fmt == DINGTALK and channel.kind == WEBHOOK:
        return
    if data.get("robot_secret") is not None:
        raise InvalidInput(
            "the request is not valid", errors={"robot_secret": [NOT_A_DINGTALK_ROBOT]}
        )
    if "robot_secret" not in data and channel.robot_secret is not None:
        kept = "the channel keeps a robot secret, which only dingtalk takes: send null to remove it"
        raise InvalidInput("the request is not valid", errors={"robot_secret": [kept]})


def check_channel_change(channel: Channel, data: dict) -> None:
    """A change of ``ChannelUpdate`` fits the channel: only webhooks have a format, and a
    robot secret only a DingTalk robot (``check_robot_secret_change``)."""
    if "format" in data and channel.kind != WEBHOOK:
        raise InvalidInput("e-mail channels have no format", errors={"format": ["not for e-mail"]})
    check_robot_secret_change(channel, data)


#: Kinds that are another kind's news in bulk: a channel that takes the one takes both.
IN_BULK = {
    "leads_assigned": "lead_assigned",
    "lead_claim_deadlines_near": "lead_claim_deadline_near",
}


def takes(channel: Channel, kind: str) -> bool:
    """Whether the channel takes events of ``kind`` (no list: every kind; a channel taking
    ``lead_assigned`` or ``lead_claim_deadline_near`` takes the same news of several
    leads at once too)."""
    return not channel.events or kind in channel.events or IN_BULK.get(kind) in channel.events


# -- retries and giving up ------------------------------------------------------------------


def backoff(attempts: int, settings: NotifySettings) -> timedelta:
    """How long to wait after the ``attempts``-th failed attempt: doubling, capped."""
    seconds = settings.retry_base * 2 ** max(attempts - 1, 0)
    return timedelta(seconds=min(seconds, settings.retry_max))


def gives_up(attempts: int, settings: NotifySettings) -> bool:
    """Whether a delivery failing its ``attempts``-th attempt is given up."""
    return attempts >= settings.max_attempts


def wears_out(channel: Channel, settings: NotifySettings) -> bool:
    """Whether an active channel has failed often enough in a row to be disabled."""
    return channel.active and channel.consecutive_failures >= settings.channel_max_failures


def disabled_reason(failures: int, error: str) -> str:
    """What a disabled channel shows as the reason."""
    return f"{failures} failures in a row: {error}"[:ERROR_MAX]
