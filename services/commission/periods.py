"""The business calendar of commission: dates and periods (months) in Asia/Shanghai.

An order approved at 2026-11-30T17:00:00Z belongs to December (01:00 on 1 December in
Shanghai): periods and rate dates follow the business calendar, never UTC's.
"""

from __future__ import annotations

from datetime import date, datetime

from services.common.timeutil import BUSINESS_TZ, as_utc


def business_date(moment: datetime) -> date:
    """The calendar date of ``moment`` in Asia/Shanghai."""
    return as_utc(moment).astimezone(BUSINESS_TZ).date()


def period_of(moment: datetime) -> str:
    """The period (``"2026-11"``) ``moment`` falls in, in Asia/Shanghai."""
    return business_date(moment).strftime("%Y-%m")


def has_ended(period: str, now: datetime) -> bool:
    """True when ``period`` lies wholly before the current month (Asia/Shanghai)."""
    return period < period_of(now)
