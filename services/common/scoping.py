"""The one way to read tenant rows: every query on them goes through ``scoped``.

A row outside the caller's scope is answered as not found, never as forbidden, so that
nobody learns that it exists.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, TypeVar

from sqlalchemy import ColumnElement, Select, and_, false, or_
from sqlalchemy.orm import Session

from services.common.context import Caller
from services.common.errors import NotFound
from services.common.regions import is_region_code, region_prefix

T = TypeVar("T")


def scoped(stmt: Select, partner_column: Any, caller: Caller, region_column: Any = None) -> Select:
    """Limit ``stmt`` to the rows whose ``partner_column`` is in the caller's scope. With
    ``region_column``, the rows of no partner (a customer in the pool, a lead in the HQ
    queue) are a regional HQ caller's when their region is in its regions (``sees_row``)."""
    if caller.partner_ids is None:
        return stmt
    own = partner_column.in_(caller.partner_ids) if caller.partner_ids else false()
    if caller.regions is None or region_column is None:
        return stmt.where(own)
    unowned = and_(partner_column.is_(None), in_regions(region_column, sorted(caller.regions)))
    return stmt.where(or_(own, unowned))


def in_regions(region_column: Any, codes: Sequence[str] | frozenset[str]) -> ColumnElement[bool]:
    """The condition of a row whose ``region_column`` one of ``codes`` covers (a province
    its cities and districts, a city its districts: ``regions.covers``, as a prefix of the
    code); a code that is no region covers none."""
    terms = [
        region_column.startswith(region_prefix(code)) for code in codes if is_region_code(code)
    ]
    return or_(*terms) if terms else false()


def region_scoped(stmt: Select, region_column: Any, caller: Caller) -> Select:
    """Limit ``stmt``, over rows that belong to no partner (customers in the pool, leads in
    the HQ queue), to the regions of a regional HQ caller (区域经理); anyone else keeps
    them all."""
    if caller.regions is None:
        return stmt
    return stmt.where(in_regions(region_column, sorted(caller.regions)))


def get_scoped(
    session: Session,
    model: type[T],
    row_id: Any,
    caller: Caller,
    partner_attr: str = "partner_id",
    options: Sequence[Any] = (),
    region_attr: str | None = None,
) -> T:
    """The row ``row_id`` of ``model`` if the caller may see it, else NotFound; ``options``
    are the loader options of the read (``joinedload``: a collection in the same query);
    ``region_attr`` as ``region_column`` in ``scoped``."""
    row = session.get(model, row_id, options=options)
    if row is None or not caller.sees_row(
        getattr(row, partner_attr), getattr(row, region_attr) if region_attr else None
    ):
        raise NotFound(f"{model.__name__.lower()} {row_id} not found")
    return row
