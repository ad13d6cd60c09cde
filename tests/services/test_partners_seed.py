"""Demo seeding completes what a stopped seeding left, and adds nothing twice."""

from __future__ import annotations

from pathlib import Path

from sqlalchemy import delete, func, select
from sqlalchemy.orm import Session

from services.common.db import make_engine
from services.common.migrations import upgrade
from services.partners import seed
from services.partners.models import Partner, User, UserRole

ROOT = Path(__file__).resolve().parents[2]


def test_a_seeding_stopped_halfway_is_completed_by_the_next_and_nothing_is_doubled(
    tmp_path,
) -> None:
    url = f"sqlite:///{tmp_path / 'partners.db'}"
    upgrade("partners", ROOT / "services" / "partners" / "migrations", url)
    engine = make_engine(url)
    with Session(engine) as session:
        seed.ensure_reference_data(session)
        assert seed.seed_demo(session) is True
        # As if the seeding had stopped before its last user.
        last = session.scalar(select(User).where(User.username == seed.DEMO_USERS[-1][0]))
        session.execute(delete(UserRole).where(UserRole.user_id == last.id))
        session.execute(delete(User).where(User.id == last.id))
        session.commit()

        assert seed.seed_demo(session) is True
        assert seed.seed_demo(session) is False
        assert session.scalar(select(func.count()).select_from(Partner)) == len(seed.DEMO_PARTNERS)
        usernames = set(session.scalars(select(User.username)))
        assert {u[0] for u in seed.DEMO_USERS} <= usernames
    engine.dispose()
