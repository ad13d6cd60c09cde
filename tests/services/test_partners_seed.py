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


def test_the_demo_has_a_regional_manager_of_zhejiang_and_jiangsu(tmp_path) -> None:
    url = f"sqlite:///{tmp_path / 'partners.db'}"
    upgrade("partners", ROOT / "services" / "partners" / "migrations", url)
    engine = make_engine(url)
    with Session(engine) as session:
        seed.ensure_reference_data(session)
        seed.seed_demo(session)
        manager = session.scalar(select(User).where(User.username == "east-manager"))
        assert manager is not None and manager.partner_id is None
        [role] = manager.roles
        assert (role.code, role.name, role.scope) == ("east_manager", "华东区域经理", "hq")
        assert sorted(role.regions) == ["320000", "330000"]
        assert "filing.approve" in role.permissions
        profile = seed.signin.caller_profile(session, manager.id)
        partner_codes = set(
            session.scalars(select(Partner.code).where(Partner.id.in_(profile["partner_ids"])))
        )
        assert partner_codes == {p[0] for p in seed.DEMO_PARTNERS}
    engine.dispose()
