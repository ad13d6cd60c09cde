"""Collaboration: the partner's users and HQ comment on an order; everyone who took part
in it is told (``order_commented``)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from services.common.context import Caller
from services.common.errors import Forbidden
from services.orders import events, rules
from services.orders.models import OrderAction, OrderComment
from services.orders.schemas import CommentOut
from services.orders.views import visible_order

Emit = Callable[[str, dict[str, Any]], str]


def list_comments(session: Session, caller: Caller, order_id: int) -> list[dict]:
    order = visible_order(session, caller, order_id)
    comments = session.scalars(
        select(OrderComment).where(OrderComment.order_id == order.id).order_by(OrderComment.id)
    ).all()
    return CommentOut(many=True).dump(comments)


def add_comment(session: Session, caller: Caller, order_id: int, body: str, emit: Emit) -> dict:
    """Whoever sees the order (the partner's users, HQ) comments on it; everyone who took
    part in the order so far is told (``order_commented``)."""
    order = visible_order(session, caller, order_id)
    if caller.user_id is None:
        raise Forbidden("a person comments, not the platform")
    user_id = caller.user_id
    comment = OrderComment(
        order_id=order.id, author_user_id=user_id, author_partner_id=caller.partner_id, body=body
    )
    session.add(comment)
    session.flush()
    actors = session.scalars(select(OrderAction.user_id).where(OrderAction.order_id == order.id))
    commenters = session.scalars(
        select(OrderComment.author_user_id).where(OrderComment.order_id == order.id)
    )
    who = rules.participants(order.created_by, actors, commenters, user_id)
    emit(events.COMMENTED, events.commented(order, comment, who))
    return CommentOut().dump(comment)
