"""Dates and periods of the business calendar (Asia/Shanghai), as SQL.

Date ranges (``from``, ``to``) are calendar days in Shanghai, both included; they become
UTC bounds on ``created_at`` so that its index serves them. Months (``2026-03``) and
quarters (``2026-Q1``) are computed by the database: on PostgreSQL with the time zone
database; on SQLite (local runs) as UTC+8, which is Shanghai's offset all year (China has
kept no daylight saving time since 1991).
"""

from __future__ import annotations

from datetime import date, datetime, time, timedelta
from typing import Any

from sqlalchemy import Integer, Select, String, cast, func, literal
from sqlalchemy.sql.elements import ColumnElement

from services.common.timeutil import BUSINESS_TZ, as_utc
from services.orders.models import Order

_SQLITE_OFFSET = "+8 hours"


def day_start(day: date) -> datetime:
    """Midnight in Shanghai starting ``day``, in UTC."""
    return as_utc(datetime.combine(day, time(0), tzinfo=BUSINESS_TZ))


def _bound(day: date | None, days_after: int = 0) -> datetime | None:
    """Midnight in Shanghai ``days_after`` days after ``day``, in UTC; None, no bound, when
    there is no day or the instant lies beyond the calendar a datetime holds (a range from
    0001-01-01 or to 9999-12-31 leaves out no order)."""
    if day is None:
        return None
    try:
        return day_start(day + timedelta(days=days_after))
    except OverflowError:
        return None


def utc_bounds(date_from: date | None, date_to: date | None) -> tuple[datetime | None, ...]:
    """``[start, end)`` in UTC of the Shanghai days ``date_from`` to ``date_to``."""
    return _bound(date_from), _bound(date_to, days_after=1)


def created_between(stmt: Select, date_from: date | None, date_to: date | None) -> Select:
    """``stmt`` limited to orders created on the Shanghai days ``date_from`` to ``date_to``."""
    start, end = utc_bounds(date_from, date_to)
    if start is not None:
        stmt = stmt.where(Order.created_at >= start)
    if end is not None:
        stmt = stmt.where(Order.created_at < end)
    return stmt


def month_start(column: Any, dialect: str) -> ColumnElement:
    """What orders are grouped by for months: on PostgreSQL the first instant of the
    Shanghai month (``date_trunc``, immutable, so that the statistics the migration keeps on
    it give the planner the number of months); on SQLite already ``YYYY-MM``."""
    if dialect == "postgresql":
        return func.date_trunc("month", func.timezone(BUSINESS_TZ.key, column))
    return func.strftime("%Y-%m", column, _SQLITE_OFFSET)


def month_label(grouped: Any, dialect: str) -> ColumnElement:
    """``YYYY-MM`` of what ``month_start`` gave."""
    if dialect == "postgresql":
        return func.to_char(grouped, "YYYY-MM")
    return grouped


def quarter_start(column: Any, dialect: str) -> ColumnElement:
    """As ``month_start``, for quarters (``YYYY-Qn`` on SQLite)."""
    if dialect == "postgresql":
        return func.date_trunc("quarter", func.timezone(BUSINESS_TZ.key, column))
    month = cast(func.strftime("%m", column, _SQLITE_OFFSET), Integer)
    number = cast((month + 2) // 3, String)
    return func.strftime("%Y", column, _SQLITE_OFFSET).concat(literal("-Q")).concat(number)


def quarter_label(grouped: Any, dialect: str) -> ColumnElement:
    """``YYYY-Qn`` of what ``quarter_start`` gave."""
    if dialect == "postgresql":
        return func.to_char(grouped, 'YYYY-"Q"Q')
    return grouped
