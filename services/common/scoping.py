"""The one way to read tenant rows: every query on them goes through ``scoped``.

A row outside the caller's scope is answered as not found, never as forbidden, so that
nobody learns that it exists.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, TypeVar

from sqlalchemy import Select, false
from sqlalchemy.orm import Session

from services.common.context import Caller
from services.common.errors import NotFound

T = TypeVar("T")


def scoped(stmt: Select, partner_column: Any, caller: Caller) -> Select:
    """Limit ``stmt`` to the rows whose ``partner_column`` is in the caller's scope."""
    if caller.partner_ids is None:
        return stmt
    if not caller.partner_ids:
        return stmt.where(false())
    return stmt.where(partner_column.in_(caller.partner_ids))


def get_scoped(
    session: Session,
    model: type[T],
    row_id: Any,
    caller: Caller,
    partner_attr: str = "partner_id",
    options: Sequence[Any] = (),
) -> T:
    """The row ``row_id`` of ``model`` if the caller may see it, else NotFound; ``options``
    are the loader options of the read (``joinedload``: a collection in the same query)."""
    row = session.get(model, row_id, options=options)
    if row is None or not caller.sees_partner(getattr(row, partner_attr)):
        raise NotFound(f"{model.__name__.lower()} {row_id} not found")
    return row
