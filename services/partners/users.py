"""People: listing, reading, creating and changing users, and the recipients of a
permission (for notifications).

Each use case opens ``with uow:``; the ones that write end with ``uow.commit(answer)`` and
tell what happened with ``uow.emit`` (``user_changed``).
"""

from __future__ import annotations

from collections.abc import Iterable

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from services.common import audit, pii
from services.common.context import Caller
from services.common.db import contains_text, insert_unique
from services.common.errors import (
    Conflict,
    Forbidden,
    InvalidInput,
    NotFound,
    TooManyRequests,
    Unauthenticated,
)
from services.common.events import event_data
from services.common.schemas import dump, ordered, page_of
from services.common.timeutil import utcnow
from services.common.unit_of_work import UnitOfWork
from services.partners import events, rules
from services.partners.audit import code_list
from services.partners.catalogue import ADMIN_ROLE
from services.partners.models import Partner, Role, User, UserRole
from services.partners.schemas import UserOut
from services.partners.signin import (
    caller_profile,
    count_failure,
    end_sessions,
    forget_failures,
    has_password,
    hash_password,
    sign_in_wait,
)


def dump_user(user: User, caller: Caller) -> dict:
    """The user as the API shows it to ``caller``, with its role codes; its e-mail and phone
    masked unless the caller may reveal personal data or is that user."""
    data = dump(UserOut, user) | {"roles": [role.code for role in user.roles]}
    return data if caller.user_id == user.id else pii.masked(data, caller, ("email", "phone"))


def user_changed(user: User) -> dict:
    """The data of a ``user_changed`` event about ``user``."""
    names = events.UserChanged().fields
    values = {name: getattr(user, name) for name in names if name != "roles"}
    return event_data(events.UserChanged, values | {"roles": [role.code for role in user.roles]})


# -- what the caller may see and change -------------------------------------------------


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


def _reaches_sub_partners(session: Session, caller: Caller) -> bool:
    """Whether the caller's data scope takes in its sub-partners (HQ sees every partner)."""
    if caller.is_hq:
        return True
    own = session.get(User, caller.user_id) if caller.user_id is not None else None
    return own is not None and rules.reaches_sub_partners(own.roles)


def _beyond_caller(session: Session, caller: Caller, roles: Iterable[Role]) -> list[str]:
    """What ``roles`` would give that the caller lacks: permissions, or the reach into
    sub-partners."""
    roles = list(roles)
    granted = {code for role in roles for code in role.permissions}
    beyond = rules.permissions_beyond(caller, granted)
    if any(role.include_sub_partners for role in roles) and not _reaches_sub_partners(
        session, caller
    ):
        beyond.append("include_sub_partners")
    return beyond


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
    rules.check_roles_fit(codes, roles, partner)
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


# -- use cases --------------------------------------------------------------------------


def list_users(uow: UnitOfWork, caller: Caller, args: dict) -> dict:
    """A page of the users the caller manages: HQ any (by partner if asked), a partner
    admin its own partner's."""
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
    sortable = {"id": User.id, "username": User.username}
    stmt = ordered(stmt, args.get("sort"), sortable, User.id)
    with uow:
        return page_of(
            uow.session, stmt, args["page"], args["per_page"], lambda u: dump_user(u, caller)
        )


def get_user(uow: UnitOfWork, caller: Caller, user_id: int) -> dict:
    """The caller itself, or a user it manages; NotFound otherwise."""
    with uow:
        if caller.user_id == user_id:
            return dump_user(uow.session.get(User, user_id), caller)
        return dump_user(_visible_user(uow.session, caller, user_id), caller)


def create_user(uow: UnitOfWork, caller: Caller, data: dict) -> dict:
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
    with uow:
        session = uow.session
        partner = None
        if data.get("partner_id") is not None:
            partner = session.get(Partner, data["partner_id"])
            if partner is None:
                raise InvalidInput("unknown partner", errors={"partner_id": ["unknown partner"]})
        taken = select(User.id).where(func.lower(User.username) == data["username"].lower())
        if session.scalar(taken):
            raise Conflict("the user name is taken", "username_taken")
        password = data.pop("password")
        rules.check_password(
            data["username"], password, data.get("display_name"), data.get("email")
        )
        roles = _roles_for(session, caller, data.pop("roles"), partner)
        user = User(
            **data, password_hash=hash_password(password), roles=roles, credentials_set_at=utcnow()
        )
        insert_unique(session, Conflict("the user name is taken", "username_taken"), user)
        uow.emit(events.USER_CHANGED, user_changed(user))
        audit.record(
            uow,
            caller,
            audit.USER_CREATED,
            subject_type="user",
            subject_id=user.id,
            detail={
                "partner_id": user.partner_id,
                "roles": code_list(role.code for role in roles),
                "active": user.active,
            },
        )
        return uow.commit(dump_user(user, caller))


def update_user(uow: UnitOfWork, caller: Caller, user_id: int, data: dict) -> dict:
    """Change a user the caller may manage (see ``_manageable_user``). Nobody changes its
    own roles or deactivates itself, and the last active HQ admin stays one. A change of
    password, roles or activity ends the user's sessions."""
    with uow:
        session = uow.session
        user = _manageable_user(session, caller, user_id)
        was_admin = rules.is_active_admin(user)
        own = user.id == caller.user_id
        rules.check_own_change(user, caller, data)
        if "roles" in data:
            codes = data.pop("roles")
            partner = session.get(Partner, user.partner_id) if user.partner_id else None
            before = {role.code for role in user.roles}
            user.roles = _roles_for(session, caller, codes, partner)
            if {role.code for role in user.roles} != before:
                end_sessions(session, user)
                user.credentials_set_at = utcnow()
                after = {role.code for role in user.roles}
                audit.record(
                    uow,
                    caller,
                    audit.ROLES_CHANGED,
                    subject_type="user",
                    subject_id=user.id,
                    detail={
                        "added": code_list(after - before),
                        "removed": code_list(before - after),
                        "roles": code_list(after),
                    },
                )
        if "password" in data:
            password = data.pop("password")
            rules.check_password(user.username, password, user.display_name, user.email)
            user.password_hash = hash_password(password)
            end_sessions(session, user)
            forget_failures(session, user)
            if not own:
                # A password someone else set is known to them: the account may be theirs
                # to use. Users changing their own keep deciding the flows already running.
                user.credentials_set_at = utcnow()
            audit.record(
                uow,
                caller,
                audit.PASSWORD_CHANGED,
                subject_type="user",
                subject_id=user.id,
                detail={"own": own},
            )
        if data.get("active") is False and user.active:
            end_sessions(session, user)
            audit.record(
                uow, caller, audit.USER_DEACTIVATED, subject_type="user", subject_id=user.id
            )
            data.pop("active")
            user.active = False
        changed = sorted(key for key, value in data.items() if getattr(user, key) != value)
        for key, value in data.items():
            setattr(user, key, value)
        if changed:
            # The names of the fields only: their values may be personal data.
            audit.record(
                uow,
                caller,
                audit.USER_CHANGED,
                subject_type="user",
                subject_id=user.id,
                detail={"fields": ",".join(changed)},
            )
        if was_admin and not rules.is_active_admin(user):
            _keep_an_active_admin(session, user)
        session.flush()
        uow.emit(events.USER_CHANGED, user_changed(user))
        return uow.commit(dump_user(user, caller))


def recipients(
    uow: UnitOfWork, permission: str, partner_id: int | None, about_partner_id: int | None = None
) -> list[dict]:
    """Active users holding ``permission``: of ``partner_id``, or HQ users when None; with
    ``about_partner_id`` (the partner an approval step is about), only the HQ users who
    see that partner (a regional HQ user of another region hears nothing of it)."""
    stmt = select(User).where(User.active.is_(True))
    if partner_id is None:
        stmt = stmt.where(User.partner_id.is_(None))
    else:
        stmt = stmt.where(User.partner_id == partner_id)
    result = []
    with uow:
        session = uow.session
        for user in session.scalars(stmt.order_by(User.id)):
            try:
                profile = caller_profile(session, user.id)
            except Unauthenticated:
                continue
            scope = profile["partner_ids"]
            if about_partner_id is not None and scope is not None and about_partner_id not in scope:
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


def change_own_password(uow: UnitOfWork, caller: Caller, current: str, new: str) -> None:
    """The signed-in user replaces its own password, proving the current one.

    A wrong current password is a failed sign-in of that user from its address (counted,
    audited, and waited for as ``authenticate`` waits), so that a stolen session cannot
    guess it here: InvalidInput ``wrong_password``, or TooManyRequests with ``retry_after``
    while the account must wait. The new password meets the policy of user creation. Every
    session of the user ends, this one too (sign in again with the new password); the
    change is audited and told (``user_changed``)."""
    if caller.user_id is None:
        raise Forbidden("only a signed-in user changes its own password")
    now = utcnow()
    address = (caller.address or "unknown")[:64]
    with uow:
        session = uow.session
        user = session.get(User, caller.user_id)
        if user is None or not user.active:
            raise Unauthenticated("the user is not active")
        key = user.username.lower()
        wait = sign_in_wait(session, key, address, now)
        if wait > 0:
            raise TooManyRequests(
                "too many wrong passwords; try again later", errors={"retry_after": [str(wait)]}
            )
        # What the new password must be is said before the current one is checked, so that
        # a refusal never tells a right guess of the current password from a wrong one.
        if new == current:
            raise InvalidInput(
                "the new password is the current one",
                errors={"new_password": ["another password than the current one"]},
            )
        try:
            rules.check_password(user.username, new, user.display_name, user.email)
        except InvalidInput as exc:
            raise InvalidInput(
                exc.message, exc.code, {"new_password": exc.errors["password"]}
            ) from exc
        if not has_password(user, current):
            count_failure(uow, caller, user, address, now, "wrong_current_password")
            uow.commit()
            raise InvalidInput(
                "the current password is not right",
                "wrong_password",
                errors={"current_password": ["not the current password"]},
            )
        user.password_hash = hash_password(new)
        end_sessions(session, user)
        forget_failures(session, user)
        audit.record(
            uow,
            caller,
            audit.PASSWORD_CHANGED,
            subject_type="user",
            subject_id=user.id,
            detail={"own": True},
        )
        session.flush()
        uow.emit(events.USER_CHANGED, user_changed(user))
        uow.commit()
