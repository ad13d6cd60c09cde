"""Rules of people and access: sign-in, tokens, the caller's scope, users and roles."""

from __future__ import annotations

import hashlib
import math
import secrets
import uuid
from collections.abc import Callable, Iterable
from datetime import datetime, timedelta
from typing import Any

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from sqlalchemy import delete, func, select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session
from zxcvbn import zxcvbn

from services.common.config import Settings, get_settings
from services.common.context import Caller
from services.common.db import contains_text, insert_unique, is_postgres
from services.common.errors import (
    Conflict,
    Forbidden,
    InvalidInput,
    NotFound,
    TooManyRequests,
    Unauthenticated,
)
from services.common.schemas import page_of
from services.common.timeutil import as_utc, iso, utcnow
from services.partners.catalogue import (
    ADMIN_ROLE,
    HQ,
    PARTNER,
    PERMISSIONS,
    PERMISSIONS_BY_CODE,
)
from services.partners.domain import ACTIVE
from services.partners.models import (
    LoginFailure,
    Partner,
    PartnerType,
    RefreshToken,
    Role,
    SignInAddress,
    User,
    UserRole,
)
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


def has_password(user: User, password: str) -> bool:
    """Whether ``password`` is the user's password (no failure is counted)."""
    return _verify_password(user.password_hash, password)


PASSWORD_MIN_LENGTH = 10
#: zxcvbn's score (0-4) a password needs: 3 is "safely unguessable" by its authors' scale,
#: and what its frequency lists (common passwords, words, names, keyboard walks) and
#: patterns (repeats, sequences, years) bring down.
PASSWORD_MIN_SCORE = 3
#: zxcvbn reads this many characters at most; the rest adds strength it does not count.
_SCORED_LENGTH = 72


def check_password(username: str, password: str, *about_user: str | None) -> None:
    """Refuse a weak password with InvalidInput naming each reason in
    ``errors["password"]``: shorter than 10 characters, containing the user name, or
    guessable (zxcvbn's score below 3, the user's own names counted as known words)."""
    reasons = []
    if len(password) < PASSWORD_MIN_LENGTH:
        reasons.append(f"at least {PASSWORD_MIN_LENGTH} characters")
    if username and username.casefold() in password.casefold():
        reasons.append("must not contain the user name")
    known = [word for word in (username, *about_user) if word]
    if zxcvbn(password[:_SCORED_LENGTH], user_inputs=known)["score"] < PASSWORD_MIN_SCORE:
        reasons.append("too easy to guess: a common password, word or pattern")
    if reasons:
        raise InvalidInput("the password is too weak", errors={"password": reasons})


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


def caller_profile(session: Session, user_id: int, token_version: int | None = None) -> dict:
    """Who the user is now: roles, permissions, the partners in their data scope, and the
    version its access tokens must carry.

    Resolved on every request, so a suspension or a role change takes effect at once. With
    ``token_version`` (the one in the caller's access token) a token issued before the
    user's last password, role or activity change is refused: Unauthenticated.
    """
    user = _active_user(session, session.get(User, user_id))
    if token_version is not None and token_version != user.token_version:
        raise Unauthenticated("the access token was revoked; sign in again")
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
        "token_version": user.token_version,
        "credentials_set_at": iso(user.credentials_set_at),
    }


# -- sign-in and tokens -----------------------------------------------------------------


#: How long failures of one account from one address count towards its back-off; older
#: ones are forgotten (``forget_old_sign_ins``).
LOGIN_MEMORY = timedelta(days=1)
#: The window of the guards on one account from every address and one address on every
#: account.
LOGIN_WINDOW = timedelta(minutes=15)


def backoff(consecutive_failures: int, settings: Settings) -> timedelta:
    """How long one account waits, from one address, after its last failure there: nothing
    for the first few failures, then a wait that doubles with each further one, capped."""
    over = consecutive_failures - settings.login_failures_per_user
    if over < 0:
        return timedelta(0)
    seconds = settings.login_backoff * 2 ** min(over, 32)
    return timedelta(seconds=min(seconds, settings.login_backoff_max))


def _is_known_address(
    session: Session, username: str, address: str, now: datetime, settings: Settings
) -> bool:
    """Whether ``username`` signed in from ``address`` with its password within
    ``PRM_LOGIN_KNOWN_ADDRESS_KEEP``."""
    last = session.scalar(
        select(SignInAddress.last_success_at).where(
            SignInAddress.username == username, SignInAddress.address == address
        )
    )
    return last is not None and as_utc(last) > now - timedelta(
        seconds=settings.login_known_address_keep
    )


def sign_in_wait(session: Session, username: str, address: str, now: datetime) -> int:
    """Seconds before ``username`` may try to sign in from ``address`` again (0: now).

    Failures slow down the account from the address they came from, with a growing back-off
    (``backoff``); the same account from elsewhere is not slowed by them. Two guards with
    high limits per ``LOGIN_WINDOW`` stop what the back-off does not see: one account tried
    from many addresses, one address trying many accounts. The guards spare an address the
    account has signed in from before (``SignInAddress``), so that an attacker's failures,
    however spread, or a neighbour's behind one shared address, cannot lock the real user
    out where it signs in; the back-off still applies there.
    """
    settings = get_settings()
    waits = [timedelta(0)]
    failures, last = session.execute(
        select(func.count(), func.max(LoginFailure.at)).where(
            LoginFailure.username == username,
            LoginFailure.address == address,
            LoginFailure.at > now - LOGIN_MEMORY,
        )
    ).one()
    if failures:
        waits.append(as_utc(last) + backoff(failures, settings) - now)
    if not _is_known_address(session, username, address, now, settings):
        guards = (
            (LoginFailure.username == username, settings.login_failures_per_account),
            (LoginFailure.address == address, settings.login_failures_per_address),
        )
        for where, limit in guards:
            failures, first = session.execute(
                select(func.count(), func.min(LoginFailure.at)).where(
                    where, LoginFailure.at > now - LOGIN_WINDOW
                )
            ).one()
            if failures >= limit:
                # The window slides: one more attempt once its oldest failure leaves it.
                waits.append(as_utc(first) + LOGIN_WINDOW - now)
    return math.ceil(max(waits).total_seconds())


def _remember_address(session: Session, username: str, address: str, now: datetime) -> None:
    """Record that ``username`` signed in from ``address`` at ``now``."""
    # An upsert: two sign-ins of one account from one address may land at the same moment.
    insert = postgresql.insert if is_postgres(session) else sqlite.insert
    row = insert(SignInAddress).values(username=username, address=address, last_success_at=now)
    session.execute(
        row.on_conflict_do_update(
            index_elements=[SignInAddress.username, SignInAddress.address],
            set_={"last_success_at": row.excluded.last_success_at},
        )
    )


def authenticate(
    session: Session,
    username: str,
    password: str,
    address: str = "unknown",
    now: datetime | None = None,
) -> dict:
    """The user's profile if the password is right and the user may act; else
    Unauthenticated with the same message whatever was wrong.

    While the account must wait from this address (``sign_in_wait``) the attempt is refused
    with TooManyRequests and ``retry_after`` seconds, before the password is looked at, and
    is not counted as a failure. A success forgets the failures from this address and makes
    it one the account is known at.
    """
    now = now or utcnow()
    key = username.lower()
    wait = sign_in_wait(session, key, address, now)
    if wait > 0:
        raise TooManyRequests(
            "too many failed sign-ins; try again later", errors={"retry_after": [str(wait)]}
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
    _remember_address(session, key, address, now)
    return caller_profile(session, user.id)


def forget_failures(session: Session, user: User) -> None:
    """Forget every failed sign-in counted against ``user``, from every address: once HQ
    sets a new password, failures with the old one say nothing about it, and the user must
    not wait to sign in with the new one."""
    session.execute(delete(LoginFailure).where(LoginFailure.username == user.username.lower()))


def forget_old_sign_ins(session: Session, now: datetime) -> None:
    """Forget failures that no longer count (older than ``LOGIN_MEMORY``), also those of
    user names never tried again, and addresses an account has not signed in from for
    ``PRM_LOGIN_KNOWN_ADDRESS_KEEP``."""
    keep = timedelta(seconds=get_settings().login_known_address_keep)
    session.execute(delete(LoginFailure).where(LoginFailure.at <= now - LOGIN_MEMORY))
    session.execute(delete(SignInAddress).where(SignInAddress.last_success_at <= now - keep))


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


def revoke_refresh_token(session: Session, token: str, user_id: int) -> None:
    """Revoke ``token`` if it is one of ``user_id``'s; another user's token is left alone,
    and the caller is not told which it was."""
    row = session.scalar(select(RefreshToken).where(RefreshToken.token_hash == _token_hash(token)))
    if row is not None and row.user_id == user_id and row.revoked_at is None:
        row.revoked_at = utcnow()


def end_sessions(session: Session, user: User) -> None:
    """End every session of ``user``: the access tokens it holds stop working on their next
    request (``caller_profile`` compares versions) and its refresh tokens are revoked."""
    user.token_version += 1
    now = utcnow()
    for token in session.scalars(
        select(RefreshToken).where(
            RefreshToken.user_id == user.id, RefreshToken.revoked_at.is_(None)
        )
    ):
        token.revoked_at = now


# -- what a caller may hand out ---------------------------------------------------------


def permissions_beyond(caller: Caller, permissions: Iterable[str]) -> list[str]:
    """The permissions among ``permissions`` that ``caller`` may not hand out, sorted.

    A caller hands out only what it holds itself. The exception: a partner's own
    permissions (filing, ordering, claiming leads, confirming statements), which no HQ role
    can hold, are handed out by HQ users who manage partners (``partner.manage``), as they
    set partners up. Codes no longer in the catalogue grant nothing and are not counted.
    """
    if caller.is_system:
        return []
    beyond = set()
    for code in permissions:
        permission = PERMISSIONS_BY_CODE.get(code)
        if permission is None or caller.has(code):
            continue
        set_up_by_hq = (
            caller.is_hq and permission.scopes == (PARTNER,) and caller.has("partner.manage")
        )
        if not set_up_by_hq:
            beyond.add(code)
    return sorted(beyond)


def _granted_by(roles: Iterable[Role]) -> set[str]:
    return {code for role in roles for code in role.permissions}


def _reaches_sub_partners(session: Session, caller: Caller) -> bool:
    """Whether the caller's data scope takes in its sub-partners (HQ sees every partner)."""
    if caller.is_hq:
        return True
    own = session.get(User, caller.user_id) if caller.user_id is not None else None
    return own is not None and any(
        role.include_sub_partners for role in own.roles if role.scope == PARTNER
    )


def _beyond_caller(session: Session, caller: Caller, roles: Iterable[Role]) -> list[str]:
    """What ``roles`` would give that the caller lacks: permissions, or the reach into
    sub-partners."""
    roles = list(roles)
    beyond = permissions_beyond(caller, _granted_by(roles))
    if any(role.include_sub_partners for role in roles) and not _reaches_sub_partners(
        session, caller
    ):
        beyond.append("include_sub_partners")
    return beyond


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


def _manageable_user(session: Session, caller: Caller, user_id: int) -> User:
    """A user the caller may change: visible to it, and holding nothing the caller does
    not (else a user manager could take over an admin's account by its password)."""
    user = _visible_user(session, caller, user_id)
    if user.id != caller.user_id and _beyond_caller(session, caller, user.roles):
        raise Forbidden("the user holds permissions you do not hold", "user_exceeds_own")
    return user


def _roles_for(
    session: Session, caller: Caller, codes: list[str], partner: Partner | None
) -> list[Role]:
    """The roles named by ``codes``, checked against the kind of user they go to and
    against what the caller may hand out."""
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
    refused = [
        f"role {role.code} grants what you do not hold: {', '.join(beyond)}"
        for role in sorted(roles, key=lambda role: role.code)
        if (beyond := _beyond_caller(session, caller, [role]))
    ]
    if refused:
        raise Forbidden(
            "you may give only roles whose permissions you hold",
            "grant_exceeds_own",
            {"roles": refused},
        )
    return list(roles)


def _is_active_admin(user: User) -> bool:
    return (
        user.active
        and user.partner_id is None
        and any(role.code == ADMIN_ROLE for role in user.roles)
    )


def _keep_an_active_admin(session: Session, leaving: User) -> None:
    """Refuse a change that leaves no active HQ admin: nobody could mend access then."""
    # Locking the admin role's row makes two admins demoting each other at the same
    # moment take turns, so that the second sees the first's change.
    admin_role = session.scalar(select(Role).where(Role.code == ADMIN_ROLE).with_for_update())
    others = session.scalar(
        select(func.count())
        .select_from(User)
        .join(UserRole, UserRole.user_id == User.id)
        .where(
            UserRole.role_id == admin_role.id,
            User.id != leaving.id,
            User.active.is_(True),
            User.partner_id.is_(None),
        )
    )
    if not others:
        raise Conflict("the last active HQ admin must stay one", "last_admin")


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
    partner-scoped roles only. Either gives only roles whose permissions it holds."""
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
    password = data.pop("password")
    check_password(data["username"], password, data.get("display_name"), data.get("email"))
    roles = _roles_for(session, caller, data.pop("roles"), partner)
    user = User(
        **data, password_hash=hash_password(password), roles=roles, credentials_set_at=utcnow()
    )
    insert_unique(session, Conflict("the user name is taken", "username_taken"), user)
    result = dump_user(user)
    emit("user_changed", result)
    return result


def update_user(session: Session, caller: Caller, user_id: int, data: dict, emit: Emit) -> dict:
    """Change a user the caller may manage (see ``_manageable_user``). Nobody changes its
    own roles or deactivates itself, and the last active HQ admin stays one."""
    user = _manageable_user(session, caller, user_id)
    was_admin = _is_active_admin(user)
    own = user.id == caller.user_id
    if data.get("active") is False and own:
        raise InvalidInput("you cannot deactivate yourself", errors={"active": ["own account"]})
    if "roles" in data:
        codes = data.pop("roles")
        if own and set(codes) != {role.code for role in user.roles}:
            raise Forbidden(
                "you cannot change your own roles", "own_roles", {"roles": ["own account"]}
            )
        partner = session.get(Partner, user.partner_id) if user.partner_id else None
        before = {role.code for role in user.roles}
        user.roles = _roles_for(session, caller, codes, partner)
        if {role.code for role in user.roles} != before:
            end_sessions(session, user)
            user.credentials_set_at = utcnow()
    if "password" in data:
        password = data.pop("password")
        check_password(user.username, password, user.display_name, user.email)
        user.password_hash = hash_password(password)
        end_sessions(session, user)
        forget_failures(session, user)
        if not own:
            # A password someone else set is known to them: the account may be theirs to
            # use. Users changing their own keep deciding the flows already running.
            user.credentials_set_at = utcnow()
    if data.get("active") is False and user.active:
        end_sessions(session, user)
    for key, value in data.items():
        setattr(user, key, value)
    if was_admin and not _is_active_admin(user):
        _keep_an_active_admin(session, user)
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


def _require_within_own(caller: Caller, permissions: Iterable[str], message: str) -> None:
    beyond = permissions_beyond(caller, permissions)
    if beyond:
        raise Forbidden(
            message,
            "grant_exceeds_own",
            {"permissions": [f"not yours to grant: {code}" for code in beyond]},
        )


def _editable_role(session: Session, caller: Caller, role_id: int) -> Role:
    """A role the caller may change: not the HQ admin role, not one the caller holds (its
    own power), and holding nothing the caller does not (its users' power)."""
    role = session.get(Role, role_id)
    if role is None:
        raise NotFound(f"role {role_id} not found")
    if role.code == ADMIN_ROLE:
        raise Forbidden(
            "the HQ admin role holds every HQ permission and cannot be changed",
            "admin_role_fixed",
        )
    held = caller.user_id is not None and session.scalar(
        select(UserRole.role_id).where(
            UserRole.user_id == caller.user_id, UserRole.role_id == role.id
        )
    )
    if held:
        raise Forbidden("you cannot change a role you hold", "role_held")
    _require_within_own(caller, role.permissions, "the role holds permissions you do not hold")
    return role


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
    """A new role, holding only permissions the caller may hand out."""
    caller.require_hq("role.manage")
    _check_role_content(session, data["scope"], data)
    _require_within_own(
        caller, data["permissions"], "a role may hold only permissions you hold yourself"
    )
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
    """Change a role the caller may edit (see ``_editable_role``), to permissions it may
    hand out."""
    caller.require_hq("role.manage")
    role = _editable_role(session, caller, role_id)
    _check_role_content(session, role.scope, data)
    if "permissions" in data:
        _require_within_own(
            caller, data["permissions"], "a role may hold only permissions you hold yourself"
        )
        data["permissions"] = sorted(set(data["permissions"]))
    for key, value in data.items():
        setattr(role, key, value)
    session.flush()
    result = dump_role(role)
    emit("role_changed", result)
    return result


def permission_catalogue() -> list[dict]:
    return [{"code": p.code, "name": p.name, "scopes": list(p.scopes)} for p in PERMISSIONS]
