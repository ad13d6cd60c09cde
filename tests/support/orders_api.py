"""What the e2e tests ask of the orders service's test-only admin commands."""

from __future__ import annotations

import manage


def age_order(order_id: int, days: int) -> None:
    """The approved order was approved ``days`` days earlier: its plan's due dates, its
    payments' days and the reminders sent of it move back too (``manage.py testing
    age-order``)."""
    manage.age_order(order_id, days)
