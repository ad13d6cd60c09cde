"""Collaboration on an order, one use case each: listing its comments and commenting; and
the data of ``order_commented``, which tells everyone who took part in the order."""

from __future__ import annotations

from sqlalchemy import select

from services.common.context import Caller
from services.common.errors import Forbidden
from services.common.events import event_data
from services.common.schemas import dump
from services.common.unit_of_work import UnitOfWork
from services.orders import events, rules
from services.orders.models import Order, OrderAction, OrderComment
from services.orders.ordering import visible_order
from services.orders.schemas import CommentOut


def list_comments(uow: UnitOfWork, caller: Caller, order_id: int) -> list[dict]:
    """The comments on an order the caller sees, oldest first (NotFound otherwise)."""
    with uow:
        order = visible_order(uow.session, caller, order_id)
        comments = uow.session.scalars(
            select(OrderComment).where(OrderComment.order_id == order.id).order_by(OrderComment.id)
        ).all()
        return [dump(CommentOut, each) for each in comments]


def add_comment(uow: UnitOfWork, caller: Caller, order_id: int, body: str) -> dict:
    """Whoever sees the order (the partner's users, HQ) comments on it; everyone who took
    part in the order so far is told (``order_commented``)."""
    with uow:
        session = uow.session
        order = visible_order(session, caller, order_id)
        if caller.user_id is None:
            raise Forbidden("a person comments, not the platform")
        user_id = caller.user_id
        comment = OrderComment(
            order_id=order.id,
            author_user_id=user_id,
            author_partner_id=caller.partner_id,
            body=body,
        )
        session.add(comment)
        session.flush()
        actors = session.scalars(
            select(OrderAction.user_id).where(OrderAction.order_id == order.id)
        )
        commenters = session.scalars(
            select(OrderComment.author_user_id).where(OrderComment.order_id == order.id)
        )
        who = rules.participants(order.created_by, actors, commenters, user_id)
        uow.emit(events.ORDER_COMMENTED, commented_event(order, comment, who))
        return uow.commit(dump(CommentOut, comment))


def commented_event(order: Order, comment: OrderComment, participant_user_ids: list[int]) -> dict:
    """``order_commented``: the comment, and who is told of it (without its author)."""
    values = {
        "order_id": order.id,
        "partner_id": order.partner_id,
        "contract_no": order.contract_no,
        "comment_id": comment.id,
        "author_user_id": comment.author_user_id,
        "body": comment.body,
        "participant_user_ids": participant_user_ids,
    }
    return event_data(events.OrderCommented, values)
