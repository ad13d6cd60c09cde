"""Commission amounts stay within the NUMERIC(14, 2) columns they are stored in: a statement
whose total cannot be stored is refused, and nothing of it is written."""

# The fixtures come from tests.support.commission_service; pytest passes them by name.
# ruff: noqa: F811

from __future__ import annotations

import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from services.commission.models import CommissionEntry, Statement
from services.common.errors import InvalidInput
from services.common.money import MAX_MONEY
from tests.support.commission_service import (  # noqa: F401 - fixtures
    call,
    config,
    database_url,
    engine,
    orders,
    partners,
    service,
    settled_month,
    vhost_uri,
)


def test_a_statement_whose_total_cannot_be_stored_is_refused_and_nothing_is_settled(
    service,
    partners,
    orders,
    engine,
) -> None:
    # Each order's commission is a tenth of the largest amount; eleven of them overflow.
    partner_id = settled_month(service, partners, orders, [str(MAX_MONEY)] * 11)
    with pytest.raises(InvalidInput) as refused:
        call(service, "issue_statement", {"partner_id": partner_id, "period": "2025-06"})
    assert refused.value.code == "statement_too_large"
    with Session(engine) as session:
        statements = session.scalar(
            select(func.count()).select_from(Statement).where(Statement.partner_id == partner_id)
        )
        unsettled = session.scalar(
            select(func.count())
            .select_from(CommissionEntry)
            .where(CommissionEntry.partner_id == partner_id, CommissionEntry.statement_id.is_(None))
        )
    assert (statements, unsettled) == (0, 11)
