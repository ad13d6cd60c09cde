"""Roles and the permission catalogue: listing, reading, creating and changing roles.

Each use case opens ``with uow:``; the ones that write end with ``uow.commit(answer)`` and
tell what happened with ``uow.emit`` (``role_changed``).
"""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.orm import Session

from services.common import audit
from services.common.context import Caller
from services.common.errors import Conflict, NotFound
from services.common.events import event_data
from services.common.schemas import dump, ordered, page_of
from services.common.unit_of_work import UnitOfWork
from services.partners import events, rules
from services.partners.audit import code_list
from services.partners.catalogue import PARTNER, PERMISSIONS
from services.partners.models import PartnerType, Role, UserRole
from services.partners.regions import load_regions
from services.partners.schemas import RoleOut


def dump_role(role: Role) -> dict:
    """The role as the API shows it."""
    return dump(RoleOut, role)


def role_changed(role: Role) -> dict:
    """The data of a ``role_changed`` event about ``role``."""
    return event_data(events.RoleChanged, role)


def _known_partner_types(session: Session) -> set[str]:
    return set(session.scalars(select(PartnerType.code)).all())


def _editable_role(session: Session, caller: Caller, role_id: int) -> Role:
    """A role the caller may change: not the HQ admin role, not one the caller holds (its
    own power), and holding nothing the caller does not (its users' power)."""
    role = session.get(Role, role_id)
    if role is None:
        raise NotFound(f"role {role_id} not found")
    held = caller.user_id is not None and session.scalar(
        select(UserRole.role_id).where(
            UserRole.user_id == caller.user_id, UserRole.role_id == role.id
        )
    )
    rules.check_role_editable(role, bool(held))
    rules.require_within_own(caller, role.permissions, "the role holds permissions you do not hold")
    return role


def list_roles(uow: UnitOfWork, caller: Caller, args: dict) -> dict:
    """A page of roles: for HQ role managers every role (of one scope if asked); for a
    partner admin the partner roles it may hand out."""
    stmt = select(Role).order_by(Role.id)
    if caller.is_hq:
        caller.require("role.manage")
        if args.get("scope"):
            stmt = stmt.where(Role.scope == args["scope"])
    else:
        caller.require("user.manage")
        stmt = stmt.where(Role.scope == PARTNER)
    stmt = ordered(stmt, args.get("sort"), {"id": Role.id, "code": Role.code}, Role.id)
    with uow:
        return page_of(uow.session, stmt, args["page"], args["per_page"], dump_role)


def get_role(uow: UnitOfWork, caller: Caller, role_id: int) -> dict:
    """One role; a partner admin sees partner roles only (NotFound otherwise)."""
    caller.require("role.manage" if caller.is_hq else "user.manage")
    with uow:
        role = uow.session.get(Role, role_id)
        if role is None or (not caller.is_hq and role.scope != PARTNER):
            raise NotFound(f"role {role_id} not found")
        return dump_role(role)


def create_role(uow: UnitOfWork, caller: Caller, data: dict) -> dict:
    """A new role, holding only permissions the caller may hand out."""
    caller.require_hq("role.manage")
    with uow:
        session = uow.session
        rules.check_role_content(data["scope"], data, _known_partner_types(session))
        data["regions"] = rules.normalise_territory(data["regions"], load_regions(), "regions")
        rules.require_within_own(
            caller, data["permissions"], "a role may hold only permissions you hold yourself"
        )
        if session.scalar(select(Role.id).where(Role.code == data["code"])):
            raise Conflict("a role with this code exists", "role_code_taken")
        data["permissions"] = sorted(set(data["permissions"]))
        role = Role(**data, builtin=False)
        session.add(role)
        session.flush()
        uow.emit(events.ROLE_CHANGED, role_changed(role))
        audit.record(
            uow,
            caller,
            audit.ROLE_CREATED,
            subject_type="role",
            subject_id=role.id,
            detail={
                "code": role.code,
                "scope": role.scope,
                "permissions": code_list(role.permissions),
                "include_sub_partners": role.include_sub_partners,
                # Only for a regional role: the records of the others read as before.
                **({"regions": code_list(role.regions)} if role.regions else {}),
            },
        )
        return uow.commit(dump_role(role))


def update_role(uow: UnitOfWork, caller: Caller, role_id: int, data: dict) -> dict:
    """Change a role the caller may edit (see ``_editable_role``), to permissions it may
    hand out."""
    caller.require_hq("role.manage")
    with uow:
        session = uow.session
        role = _editable_role(session, caller, role_id)
        rules.check_role_content(role.scope, data, _known_partner_types(session))
        if "regions" in data:
            data["regions"] = rules.normalise_territory(data["regions"], load_regions(), "regions")
        if "permissions" in data:
            rules.require_within_own(
                caller, data["permissions"], "a role may hold only permissions you hold yourself"
            )
            data["permissions"] = sorted(set(data["permissions"]))
        before = set(role.permissions)
        changed = sorted(key for key, value in data.items() if getattr(role, key) != value)
        for key, value in data.items():
            setattr(role, key, value)
        session.flush()
        uow.emit(events.ROLE_CHANGED, role_changed(role))
        if changed:
            audit.record(
                uow,
                caller,
                audit.ROLE_CHANGED,
                subject_type="role",
                subject_id=role.id,
                detail={
                    "code": role.code,
                    "fields": ",".join(changed),
                    "added": code_list(set(role.permissions) - before),
                    "removed": code_list(before - set(role.permissions)),
                },
            )
        return uow.commit(dump_role(role))


def list_permissions() -> list[dict]:
    """The permission catalogue: code, name, and the kinds of role that may hold it."""
    return [{"code": p.code, "name": p.name, "scopes": list(p.scopes)} for p in PERMISSIONS]
