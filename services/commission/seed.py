"""Reference data every installation has: the default rates of each partner type."""

from __future__ import annotations

from datetime import date
from decimal import Decimal

from sqlalchemy.orm import Session

from services.commission.rates import ensure_type_rule

#: From when the seeded rates apply: before any order the platform can have approved.
SEED_EFFECTIVE_FROM = date(2000, 1, 1)

#: partner type -> (self-sourced rate, HQ-assigned rate): 10 % and 5 % by default.
DEFAULT_RATES = {
    "city_partner": (Decimal("0.10"), Decimal("0.05")),
    "provincial_agent": (Decimal("0.10"), Decimal("0.05")),
}


def bootstrap(session: Session) -> None:
    """Run by every migration: seed each partner type's rates unless it has some already."""
    for partner_type, (self_sourced, hq_assigned) in DEFAULT_RATES.items():
        ensure_type_rule(session, partner_type, self_sourced, hq_assigned, SEED_EFFECTIVE_FROM)
