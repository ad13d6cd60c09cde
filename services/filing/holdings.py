"""What a partner holds against its grade's cap (``max_protected_customers``): its
protected and pending customers, counted under a lock of its own.

A pool claim, a lead claim and a new filing each add one customer to the partner's
holdings. Two of them at once would both count the holdings before either is in and end
one past the cap; so each takes the partner's holdings lock (held until its transaction
ends) before counting, and ``rules.check_within_cap`` decides.
"""

from __future__ import annotations

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from services.common.db import advisory_lock
from services.filing import rules
from services.filing.models import Customer
from services.filing.schemas import ACTIVE_STATUSES


def lock(session: Session, partner_id: int) -> None:
    """Take ``partner_id``'s holdings lock until the transaction ends. Take it before any
    row lock of the transaction, as every path does, so that two never wait on each
    other."""
    advisory_lock(session, f"filing.holdings.{partner_id}")


def held(session: Session, partner_id: int) -> int:
    """The protected and pending customers of ``partner_id`` (under its holdings lock)."""
    return (
        session.scalar(
            select(func.count())
            .select_from(Customer)
            .where(
                Customer.owner_partner_id == partner_id,
                Customer.status.in_(ACTIVE_STATUSES),
            )
        )
        or 0
    )


def check_room(session: Session, partner_id: int, terms: dict | None) -> None:
    """Refuse one more customer for ``partner_id`` at its cap (409 ``claim_limit_reached``;
    ``terms`` None or without a cap: no limit). Call it under the partner's lock."""
    if terms and terms.get("max_protected_customers") is not None:
        rules.check_within_cap(terms, held(session, partner_id))
