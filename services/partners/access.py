"""Rules of people and access: sign-in, tokens, the caller's scope, users and roles."""

from __future__ import annotations

import hashlib
import secrets
import uuid
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from sqlalchemy import delete, func, select
from sqlalchemy.orm import Session

from services.common.config import get_settings
from services.common.context import Caller
from services.common.db import contains_text, insert_unique
from services.common.errors import (
    Conflict,
    InvalidInput,
    NotFound,
    TooManyRequests,
    Unauthenticated,
)
from services.common.schemas import page_of
from services.common.timeutil import as_utc, utcnow
from services.partners.catalogue import HQ, PARTNER, PERMISSIONS, PERMISSIONS_BY_CODE
from services.partners.domain import ACTIVE
from services.partners.models import LoginFailure, Partner, PartnerType, RefreshToken, Role, User
from services.partners.schemas import RoleOut, UserOut

Emit = Callable[[str, dict[str, Any]], str]

_hasher = PasswordHasher()  # argon2id, RFC 9106 low-memory profile
_DUMMY_HASH = _hasher.hash(secrets.token_urlsafe(16))


def hash_password(password: str) -> str:
    return _hasher.hash(password)


def _verify_password(password_hash: str, password: str) -> bool:
    try:
        return _hasher.verify(password_hash, password)
    except (VerificationError, InvalidHashError):
        return False


def dump_user(user: User) -> dict:
    return UserOut().dump(user) | {"roles": [role.code for role in user.roles]}


def dump_role(role: Role) -> dict:
    return RoleOut().dump(role)


# -- the caller -------------------------------------------------------------------------


def descendants(session: Session, partner_id: int) -> list[int]:
    """Ids of every partner below ``partner_id`` (children, their children, ...)."""
    found: list[int] = []
    frontier = [partner_id]
    while frontier:
        children = session.scalars(select(Partner.id).where(Partner.parent_id.in_(frontier))).all()
        children = [c for c in children if c not in found and c != partner_id]
        found.extend(children)
        frontier = children
    return found


def _active_user(session: Session, user: User | None) -> User:
    """The user if they and their partner may act now; Unauthenticated otherwise."""
    if user is None or not user.active:
        raise Unauthenticated("the user is not active")
    if user.partner_id is not None:
        partner = session.get(Partner, user.partner_id)
        if partner is None or partner.status != ACTIVE:
            raise Unauthenticated("the partner is not active")
    return user


def caller_profile(session: Session, user_id: int) -> dict:
    """Who the user is now: roles, permissions and the partners in their data scope.

    Resolved on every request, so a suspension or a role change takes effect at once.
    """
    user = _active_user(session, session.get(User, user_id))
    kind = PARTNER if user.partner_id is not None else HQ
    permissions = sorted(
        {
            code
            for role in user.roles
            if role.scope == kind
            for code in role.permissions
            if code in PERMISSIONS_BY_CODE and kind in PERMISSIONS_BY_CODE[code].scopes
        }
    )
    partner_ids = None
    if user.partner_id is not None:
        partner_ids = [user.partner_id]
        if any(role.include_sub_partners for role in user.roles if role.scope == PARTNER):
            partner_ids += descendants(session, user.partner_id)
    return {
        "id": user.id,
        "username": user.username,
        "display_name": user.display_name,
        "partner_id": user.partner_id,
        "partner_ids": partner_ids,
        "roles": [role.code for role in user.roles],
        "permissions": permissions,
        "language": user.language,
    }


# -- sign-in and tokens -----------------------------------------------------------------


# Failed sign-ins allowed per window: per user name from one address, and per address.
LOGIN_WINDOW = timedelta(minutes=15)


def _too_many_failures(session: Session, username: str, address: str, now: datetime) -> bool:
    since = now - LOGIN_WINDOW
    recent = select(func.count()).select_from(LoginFailure).where(LoginFailure.at > since)
    pair = session.scalar(
        recent.where(LoginFailure.username == username, LoginFailure.address == address)
    )
    per_address = session.scalar(recent.where(LoginFailure.address == address))
    settings = get_settings()
    return (
        pair >= settings.login_failures_per_user
        or per_address >= settings.login_failures_per_address
    )


def authenticate(session: Session, username: str, password: str, address: str = "unknown") -> dict:
    """The user's profile if the password is right and the user may act; else
    Unauthenticated with the same message whatever was wrong.

    After too many failures from one address (for one user name, or in all) sign-in from
    there is refused with TooManyRequests until the window passes; the real user is never
    locked out for longer than that, nor from another address.
    """
    now = utcnow()
    key = username.lower()
    if _too_many_failures(session, key, address, now):
        retry = int(LOGIN_WINDOW.total_seconds())
        raise TooManyRequests(
            "too many failed sign-ins; try again later", errors={"retry_after": [str(retry)]}
        )
    user = session.scalar(select(User).where(func.lower(User.username) == key))
    if user is None:
        _verify_password(_DUMMY_HASH, password)  # same cost whether the user exists or not
        ok = False
    else:
        ok = _verify_password(user.password_hash, password)
        if ok:
            try:
                _active_user(session, user)
            except Unauthenticated:
                ok = False
    if not ok:
        session.add(LoginFailure(username=key, address=address, at=now))
        raise Unauthenticated("invalid credentials").keeping_changes()
    if _hasher.check_needs_rehash(user.password_hash):
        user.password_hash = hash_password(password)
    user.last_login_at = now
    session.execute(
        delete(LoginFailure).where(LoginFailure.username == key, LoginFailure.address == address)
    )
    return caller_profile(session, user.id)


def _token_hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def issue_refresh_token(session: Session, user_id: int, family: str | None = None) -> str:
    token = secrets.token_urlsafe(32)
    session.add(
        RefreshToken(
            token_hash=_token_hash(token),
            user_id=user_id,
            family=family or str(uuid.uuid4()),
            expires_at=utcnow() + timedelta(seconds=get_settings().refresh_token_ttl),
        )
    )
    return token


def rotate_refresh_token(session: Session, token: str) -> tuple[dict, str]:
    """Trade a refresh token for a new one. A token used twice revokes its whole family:
    somebody holds a copy."""
    row = session.scalar(select(RefreshToken).where(RefreshToken.token_hash == _token_hash(token)))
    now = utcnow()
    if row is None:
        raise Unauthenticated("invalid refresh token")
    if row.revoked_at is not None:
        for sibling in session.scalars(
            select(RefreshToken).where(
                RefreshToken.family == row.family, RefreshToken.revoked_at.is_(None)
            )
        ):
            sibling.revoked_at = now
        raise Unauthenticated("refresh token already used").keeping_changes()
    if as_utc(row.expires_at) <= now:
        raise Unauthenticated("refresh token expired")
    row.revoked_at = now
    profile = caller_profile(session, row.user_id)
    return profile, issue_refresh_token(session, row.user_id, row.family)


def revoke_refresh_token(session: Session, token: str) -> None:
    row = session.scalar(select(RefreshToken).where(RefreshToken.token_hash == _token_hash(token)))
    if row is not None and row.revoked_at is None:
        row.revoked_at = utcnow()


# -- users ------------------------------------------------------------------------------


def _user_manager_partner(caller: Caller) -> int | None:
    """None for HQ user managers; the own partner id for a partner admin."""
    caller.require("user.manage")
    return caller.partner_id


def _visible_user(session: Session, caller: Caller, user_id: int) -> User:
    own_partner = _user_manager_partner(caller)
    user = session.get(User, user_id)
    if user is None or (caller.partner_id is not None and user.partner_id != own_partner):
        raise NotFound(f"user {user_id} not found")
    return user


def _roles_for(
    session: Session, caller: Caller, codes: list[str], partner: Partner | None
) -> list[Role]:
    """The roles named by ``codes``, checked against the kind of user they go to."""
    if not codes:
        return []
    roles = session.scalars(select(Role).where(Role.code.in_(set(codes)))).all()
    found = {role.code for role in roles}
    errors = [f"unknown role {code}" for code in sorted(set(codes) - found)]
    kind = PARTNER if partner is not None else HQ
    for role in roles:
        if role.scope != kind:
            errors.append(f"role {role.code} is for {role.scope} users")
        elif partner is not None and role.partner_types and partner.type not in role.partner_types:
            errors.append(f"role {role.code} is not for partners of type {partner.type}")
    if errors:
        raise InvalidInput("roles cannot be given", "invalid_roles", {"roles": errors})
    return list(roles)


def list_users(session: Session, caller: Caller, args: dict) -> dict:
    own_partner = _user_manager_partner(caller)
    stmt = select(User).order_by(User.id)
    if caller.partner_id is not None:
        stmt = stmt.where(User.partner_id == own_partner)
    elif args.get("partner_id") is not None:
        stmt = stmt.where(User.partner_id == args["partner_id"])
    if args.get("active") is not None:
        stmt = stmt.where(User.active == args["active"])
    if args.get("q"):
        stmt = stmt.where(contains_text(args["q"], User.username, User.display_name))
    return page_of(session, stmt, args["page"], args["per_page"], dump_user)


def get_user(session: Session, caller: Caller, user_id: int) -> dict:
    if caller.user_id == user_id:
        return dump_user(session.get(User, user_id))
    return dump_user(_visible_user(session, caller, user_id))


def create_user(session: Session, caller: Caller, data: dict, emit: Emit) -> dict:
    """HQ creates any user; a partner admin creates users of its own partner, with
    partner-scoped roles only."""
    own_partner = _user_manager_partner(caller)
    if caller.partner_id is not None:
        if data.get("partner_id") not in (None, own_partner):
            raise InvalidInput(
                "a partner admin creates users of its own partner only",
                errors={"partner_id": ["not allowed"]},
            )
        data["partner_id"] = own_partner
    partner = None
    if data.get("partner_id") is not None:
        partner = session.get(Partner, data["partner_id"])
        if partner is None:
            raise InvalidInput("unknown partner", errors={"partner_id": ["unknown partner"]})
    if session.scalar(select(User.id).where(func.lower(User.username) == data["username"].lower())):
        raise Conflict("the user name is taken", "username_taken")
    roles = _roles_for(session, caller, data.pop("roles"), partner)
    password = data.pop("password")
    user = User(**data, password_hash=hash_password(password), roles=roles)
    insert_unique(session, Conflict("the user name is taken", "username_taken"), user)
    result = dump_user(user)
    emit("user_changed", result)
    return result


def update_user(session: Session, caller: Caller, user_id: int, data: dict, emit: Emit) -> dict:
    user = _visible_user(session, caller, user_id)
    if "roles" in data:
        partner = session.get(Partner, user.partner_id) if user.partner_id else None
        user.roles = _roles_for(session, caller, data.pop("roles"), partner)
    if "password" in data:
        user.password_hash = hash_password(data.pop("password"))
        for token in session.scalars(
            select(RefreshToken).where(
                RefreshToken.user_id == user.id, RefreshToken.revoked_at.is_(None)
            )
        ):
            token.revoked_at = utcnow()
    if data.get("active") is False and user.id == caller.user_id:
        raise InvalidInput("you cannot deactivate yourself", errors={"active": ["own account"]})
    for key, value in data.items():
        setattr(user, key, value)
    session.flush()
    result = dump_user(user)
    emit("user_changed", result)
    return result


def recipients(session: Session, permission: str, partner_id: int | None) -> list[dict]:
    """Active users holding ``permission``: of ``partner_id``, or HQ users when None."""
    stmt = select(User).where(User.active.is_(True))
    if partner_id is None:
        stmt = stmt.where(User.partner_id.is_(None))
    else:
        stmt = stmt.where(User.partner_id == partner_id)
    result = []
    for user in session.scalars(stmt.order_by(User.id)):
        try:
            profile = caller_profile(session, user.id)
        except Unauthenticated:
            continue
        if permission in profile["permissions"]:
            result.append(
                {
                    "id": user.id,
                    "username": user.username,
                    "display_name": user.display_name,
                    "email": user.email,
                    "partner_id": user.partner_id,
                    "language": user.language,
                }
            )
    return result


# -- roles ------------------------------------------------------------------------------


def _check_role_content(session: Session, scope: str, data: dict) -> None:
    errors: dict[str, list[str]] = {}
    for code in data.get("permissions", []):
        permission = PERMISSIONS_BY_CODE.get(code)
        if permission is None:
            errors.setdefault("permissions", []).append(f"unknown permission {code}")
        elif scope not in permission.scopes:
            errors.setdefault("permissions", []).append(f"{code} is not for {scope} roles")
    types = data.get("partner_types") or []
    if types and scope != PARTNER:
        errors["partner_types"] = ["only partner roles are limited to partner types"]
    known = set(session.scalars(select(PartnerType.code)).all())
    for code in types:
        if code not in known:
            errors.setdefault("partner_types", []).append(f"unknown partner type {code}")
    if data.get("include_sub_partners") and scope != PARTNER:
        errors["include_sub_partners"] = ["only partner roles reach sub-partners"]
    if errors:
        raise InvalidInput("the role is not valid", errors=errors)


def list_roles(session: Session, caller: Caller, args: dict) -> dict:
    stmt = select(Role).order_by(Role.id)
    if caller.is_hq:
        caller.require("role.manage")
        if args.get("scope"):
            stmt = stmt.where(Role.scope == args["scope"])
    else:
        # A partner admin sees the roles it may hand out.
        caller.require("user.manage")
        stmt = stmt.where(Role.scope == PARTNER)
    return page_of(session, stmt, args["page"], args["per_page"], dump_role)


def get_role(session: Session, caller: Caller, role_id: int) -> dict:
    caller.require("role.manage" if caller.is_hq else "user.manage")
    role = session.get(Role, role_id)
    if role is None or (not caller.is_hq and role.scope != PARTNER):
        raise NotFound(f"role {role_id} not found")
    return dump_role(role)


def create_role(session: Session, caller: Caller, data: dict, emit: Emit) -> dict:
    caller.require_hq("role.manage")
    _check_role_content(session, data["scope"], data)
    if session.scalar(select(Role.id).where(Role.code == data["code"])):
        raise Conflict("a role with this code exists", "role_code_taken")
    data["permissions"] = sorted(set(data["permissions"]))
    role = Role(**data, builtin=False)
    session.add(role)
    session.flush()
    result = dump_role(role)
    emit("role_changed", result)
    return result


def update_role(session: Session, caller: Caller, role_id: int, data: dict, emit: Emit) -> dict:
    caller.require_hq("role.manage")
    role = session.get(Role, role_id)
    if role is None:
        raise NotFound(f"role {role_id} not found")
    _check_role_content(session, role.scope, data)
    if "permissions" in data:
        data["permissions"] = sorted(set(data["permissions"]))
    for key, value in data.items():
        setattr(role, key, value)
    session.flush()
    result = dump_role(role)
    emit("role_changed", result)
    return result


def permission_catalogue() -> list[dict]:
    return [{"code": p.code, "name": p.name, "scopes": list(p.scopes)} for p in PERMISSIONS]
