"""Reference data every installation has, the bootstrap admin, and the demo data set.

Run on a session of the caller's (``manage.py``, tests) through a ``UnitOfWork`` on it, so
that seeding goes through the use cases and emits as they do; each step commits.
"""

from __future__ import annotations

import logging

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from services.common.config import ConfigError
from services.common.context import Caller
from services.common.errors import InvalidInput
from services.common.schemas import load
from services.common.unit_of_work import UnitOfWork
from services.partners import events, partners, roles, signin, users
from services.partners.catalogue import ADMIN_ROLE, HQ, SEED_PARTNER_TYPES, SEED_ROLES
from services.partners.models import Partner, PartnerType, Role, User
from services.partners.schemas import UserCreate, UserUpdate

log = logging.getLogger(__name__)

SYSTEM = Caller.system_caller("partners-seed")


def _unit_of_work(session: Session) -> UnitOfWork:
    return UnitOfWork(lambda: session, "partners")


def ensure_reference_data(session: Session) -> None:
    """Partner types and the seeded roles, committed; existing rows (maybe edited by HQ)
    are kept, except the HQ admin role, which is put back whole."""
    uow = _unit_of_work(session)
    with uow:
        for code, name, protection_days, claim_hours in SEED_PARTNER_TYPES:
            if session.get(PartnerType, code) is None:
                session.add(
                    PartnerType(
                        code=code,
                        name=name,
                        protection_days=protection_days,
                        claim_hours=claim_hours,
                    )
                )
        existing = set(session.scalars(select(Role.code)).all())
        for seed in SEED_ROLES:
            if seed.code not in existing:
                session.add(
                    Role(
                        code=seed.code,
                        name=seed.name,
                        scope=seed.scope,
                        permissions=sorted(seed.permissions),
                        partner_types=[],
                        include_sub_partners=seed.include_sub_partners,
                        builtin=True,
                    )
                )
        session.flush()
        _make_admin_role_whole(uow)
        uow.commit()


def _make_admin_role_whole(uow: UnitOfWork) -> Role:
    """The HQ admin role as seeded, with every HQ permission of the catalogue. Nobody may
    edit it, so this is also how a permission new in the catalogue reaches it."""
    session = uow.session
    seed = next(seed for seed in SEED_ROLES if seed.code == ADMIN_ROLE)
    role = session.scalar(select(Role).where(Role.code == ADMIN_ROLE))
    whole = {
        "name": seed.name,
        "scope": seed.scope,
        "permissions": sorted(seed.permissions),
        "partner_types": [],
        "include_sub_partners": False,
        "builtin": True,
    }
    if any(getattr(role, key) != value for key, value in whole.items()):
        for key, value in whole.items():
            setattr(role, key, value)
        session.flush()
        uow.emit(events.ROLE_CHANGED, roles.role_changed(role))
    return role


def create_admin(session: Session, username: str, password: str) -> dict:
    """A new active HQ admin; InvalidInput or Conflict (a taken name) otherwise."""
    data = load(
        UserCreate,
        {
            "username": username,
            "password": password,
            "display_name": "总部管理员",
            "roles": [ADMIN_ROLE],
        },
    )
    return users.create_user(_unit_of_work(session), SYSTEM, data)


def restore_admin(session: Session, username: str, password: str) -> dict:
    """Mend a locked-out installation: the HQ admin role whole again, and ``username`` an
    active HQ admin signing in with ``password`` (created if there is no such user)."""
    ensure_reference_data(session)
    user = session.scalar(select(User).where(func.lower(User.username) == username.lower()))
    if user is None:
        return create_admin(session, username, password)
    if user.partner_id is not None:
        raise InvalidInput(
            "a partner's user cannot be an HQ admin",
            errors={"username": ["a partner's user"]},
        )
    codes = sorted({role.code for role in user.roles} | {ADMIN_ROLE})
    change = load(UserUpdate, {"password": password, "active": True, "roles": codes})
    return users.update_user(_unit_of_work(session), SYSTEM, user.id, change)


#: The admin password earlier releases published in the README for local runs: whoever read
#: it could sign in to an installation that still has it.
FORMER_PUBLISHED_ADMIN_PASSWORD = "prm-admin-2026"  # noqa: S105 - kept only to be replaced


def ensure_admin(session: Session, password: str) -> bool:
    """Create the HQ admin ``admin`` if there is none; True when created.

    An ``admin`` that still has the password earlier releases published gets ``password``
    instead (its sessions end), so that an upgraded local installation is not left open."""
    admin = session.scalar(select(User).where(User.username == "admin"))
    if admin is None:
        create_admin(session, "admin", password)
        return True
    if password != FORMER_PUBLISHED_ADMIN_PASSWORD and signin.has_password(
        admin, FORMER_PUBLISHED_ADMIN_PASSWORD
    ):
        change = load(UserUpdate, {"password": password})
        users.update_user(_unit_of_work(session), SYSTEM, admin.id, change)
        log.warning("the admin had the formerly published password: it now has the one given")
    return False


# Published (README): it passes the password rule, and is for local demo data only.
DEMO_PASSWORD = "demo-pass-2026"  # noqa: S105 - the published password of the demo users

DEMO_PARTNERS = (
    # code, name, type, parent code, territory
    ("ZJ-AGENT", "浙江省级代理有限公司", "provincial_agent", None, ["330000"]),
    ("HZ-CITY", "杭州城市合伙人", "city_partner", "ZJ-AGENT", ["330100"]),
    ("NB-CITY", "宁波城市合伙人", "city_partner", "ZJ-AGENT", ["330200"]),
    ("NJ-CITY", "南京城市合伙人", "city_partner", None, ["320100"]),
    ("JS-AGENT", "江苏省级代理有限公司", "provincial_agent", None, ["320000"]),
)

#: A regional HQ role (区域经理): HQ approvals over the partners of its regions only.
DEMO_ROLES = (
    # code, name, regions, permissions
    (
        "east_manager",
        "华东区域经理",
        ["330000", "320000"],
        [
            "filing.approve",
            "extension.approve",
            "order.approve.sales",
            "lead.assign",
            "report.read",
        ],
    ),
)

DEMO_USERS = (
    # username, display name, partner code (None = HQ), roles
    ("channel", "渠道经理 王敏", None, ["channel_manager"]),
    ("marketing", "市场专员 李娜", None, ["marketing"]),
    ("salesops", "销售运营 张伟", None, ["sales_ops"]),
    ("finance", "财务 刘洋", None, ["finance"]),
    ("director", "渠道总监 陈刚", None, ["channel_director"]),
    ("zj-admin", "浙江代理 管理员", "ZJ-AGENT", ["partner_admin"]),
    ("hz-admin", "杭州合伙人 管理员", "HZ-CITY", ["partner_admin"]),
    ("hz-sales", "杭州合伙人 销售", "HZ-CITY", ["partner_sales"]),
    ("nb-sales", "宁波合伙人 销售", "NB-CITY", ["partner_sales"]),
    ("nj-admin", "南京合伙人 管理员", "NJ-CITY", ["partner_admin"]),
    ("js-admin", "江苏代理 管理员", "JS-AGENT", ["partner_admin"]),
    ("east-manager", "华东区域经理 赵磊", None, ["east_manager"]),
)


def seed_demo(session: Session) -> bool:
    """A few partners in Zhejiang and Jiangsu with their users, and a regional HQ manager
    of both provinces; False if all are there.

    Each partner and user is committed on its own (by its use case), so a seeding that
    stopped halfway is completed by the next one: what exists is kept, the rest made."""
    uow = _unit_of_work(session)
    ids: dict[str, int] = dict(
        session.execute(
            select(Partner.code, Partner.id).where(Partner.code.in_([p[0] for p in DEMO_PARTNERS]))
        ).all()
    )
    existing_users = set(
        session.scalars(select(User.username).where(User.username.in_([u[0] for u in DEMO_USERS])))
    )
    existing_roles = set(
        session.scalars(select(Role.code).where(Role.code.in_([r[0] for r in DEMO_ROLES])))
    )
    session.rollback()  # the reads above leave no transaction open for the use cases
    made = False
    for code, name, type_, parent, territory in DEMO_PARTNERS:
        if code in ids:
            continue
        made = True
        partner = partners.create_partner(
            uow,
            SYSTEM,
            {
                "code": code,
                "name": name,
                "type": type_,
                "parent_id": ids.get(parent) if parent else None,
                "territory": territory,
                "contact_name": None,
                "contact_phone": None,
                "contact_email": None,
            },
        )
        ids[code] = partner["id"]
    for code, name, regions, permissions in DEMO_ROLES:
        if code in existing_roles:
            continue
        made = True
        roles.create_role(
            uow,
            SYSTEM,
            {
                "code": code,
                "name": name,
                "scope": HQ,
                "partner_types": [],
                "permissions": permissions,
                "include_sub_partners": False,
                "regions": regions,
            },
        )
    for username, display_name, partner_code, role_codes in DEMO_USERS:
        if username in existing_users:
            continue
        made = True
        users.create_user(
            uow,
            SYSTEM,
            {
                "username": username,
                "password": DEMO_PASSWORD,
                "display_name": display_name,
                "partner_id": ids[partner_code] if partner_code else None,
                "roles": role_codes,
                "active": True,
                "language": "zh",
                "email": f"{username}@example.com",
                "phone": None,
            },
        )
    return made


def bootstrap(session: Session) -> None:
    """Run by every migration: reference data, and the admin when a password is given (it
    must pass the password rule, ``rules.check_password``)."""
    import os

    ensure_reference_data(session)
    password = os.environ.get("PRM_ADMIN_PASSWORD")
    try:
        created = bool(password) and ensure_admin(session, password)
    except InvalidInput as exc:
        reasons = "; ".join(exc.errors.get("password", [exc.message]))
        raise ConfigError(f"PRM_ADMIN_PASSWORD is too weak: {reasons}") from exc
    if created:
        log.info("created the HQ admin 'admin'")
