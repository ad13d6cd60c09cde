"""Sign-in and who the caller is: passwords, the sign-in back-off's bookkeeping, refresh
tokens, logging out, and the caller's profile (roles, permissions, data scope).

The use cases (``authenticate``, ``refresh``, ``logout``, ``get_caller``,
``forget_old_sign_ins``) each open ``with uow:``; the helpers take a ``Session``.
"""

from __future__ import annotations

import hashlib
import math
import secrets
import uuid
from datetime import datetime, timedelta

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from sqlalchemy import case, delete, func, select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from services.common import audit
from services.common.config import Settings, get_settings
from services.common.context import Caller
from services.common.db import is_postgres, try_advisory_lock
from services.common.errors import TooManyRequests, Unauthenticated
from services.common.scoping import in_regions
from services.common.timeutil import as_utc, iso, utcnow
from services.common.unit_of_work import UnitOfWork
from services.partners import rules
from services.partners.models import (
    LoginFailure,
    Partner,
    RefreshToken,
    SignInAddress,
    TerritoryRegion,
    User,
)
from services.partners.schemas import ACTIVE

_hasher = PasswordHasher()  # argon2id, RFC 9106 low-memory profile
_DUMMY_HASH = _hasher.hash(secrets.token_urlsafe(16))


# -- passwords --------------------------------------------------------------------------


def hash_password(password: str) -> str:
    """The stored form of ``password`` (argon2id)."""
    return _hasher.hash(password)


def _verify_password(password_hash: str, password: str) -> bool:
    try:
        return _hasher.verify(password_hash, password)
    except (VerificationError, InvalidHashError):
        return False


def has_password(user: User, password: str) -> bool:
    """Whether ``password`` is the user's password (no failure is counted)."""
    return _verify_password(user.password_hash, password)


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


def partners_in_regions(session: Session, regions: list[str]) -> list[int]:
    """Ids of the partners whose whole territory lies inside ``regions``: the partners a
    regional HQ user (区域经理) sees. A partner covering more than these regions (a
    provincial agent, for a city's manager; a partner of this city and another one) is
    not among them: its rows elsewhere are not this user's."""
    inside = case((in_regions(TerritoryRegion.region_code, regions), 1), else_=0)
    rows = session.scalars(
        select(TerritoryRegion.partner_id)
        .group_by(TerritoryRegion.partner_id)
        .having(func.count() == func.sum(inside))
        .order_by(TerritoryRegion.partner_id)
    )
    return list(rows)


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
    partner_ids = None
    regions = rules.regions_of(user)
    if user.partner_id is not None:
        partner_ids = [user.partner_id]
        if rules.reaches_sub_partners(user.roles):
            partner_ids += descendants(session, user.partner_id)
    elif regions is not None:
        partner_ids = partners_in_regions(session, regions)
    return {
        "id": user.id,
        "username": user.username,
        "display_name": user.display_name,
        "partner_id": user.partner_id,
        "partner_ids": partner_ids,
        "regions": regions,
        "roles": [role.code for role in user.roles],
        "permissions": rules.permissions_held(user),
        "language": user.language,
        "token_version": user.token_version,
        "credentials_set_at": iso(user.credentials_set_at),
    }


def get_caller(uow: UnitOfWork, user_id: int, token_version: int | None = None) -> dict:
    """The user's current roles, permissions and data scope (``caller_profile``);
    Unauthenticated if they or their partner may not act, or if ``token_version`` is not
    the user's current one."""
    with uow:
        return caller_profile(uow.session, user_id, token_version)


# -- the sign-in back-off ---------------------------------------------------------------


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
    (``rules.backoff``); the same account from elsewhere is not slowed by them. Two guards
    with high limits per ``LOGIN_WINDOW`` stop what the back-off does not see: one account
    tried from many addresses, one address trying many accounts. The guards spare an
    address the account has signed in from before (``SignInAddress``), so that an
    attacker's failures, however spread, or a neighbour's behind one shared address, cannot
    lock the real user out where it signs in; the back-off still applies there.
    """
    settings = get_settings()
    waits = [timedelta(0)]
    failures, last = session.execute(
        select(func.count(), func.max(LoginFailure.at)).where(
            LoginFailure.username == username,
            LoginFailure.address == address,
            LoginFailure.at > now - rules.LOGIN_MEMORY,
        )
    ).one()
    if failures:
        waits.append(as_utc(last) + rules.backoff(failures, settings) - now)
    if not _is_known_address(session, username, address, now, settings):
        guards = (
            (LoginFailure.username == username, settings.login_failures_per_account),
            (LoginFailure.address == address, settings.login_failures_per_address),
        )
        for where, limit in guards:
            failures, first = session.execute(
                select(func.count(), func.min(LoginFailure.at)).where(
                    where, LoginFailure.at > now - rules.LOGIN_WINDOW
                )
            ).one()
            if failures >= limit:
                # The window slides: one more attempt once its oldest failure leaves it.
                waits.append(as_utc(first) + rules.LOGIN_WINDOW - now)
    return math.ceil(max(waits).total_seconds())


def count_failure(
    uow: UnitOfWork, actor: Caller, user: User, address: str, now: datetime, reason: str
) -> None:
    """Count a wrong password of ``user`` from ``address`` as a failed sign-in (the
    back-off and the guards of ``sign_in_wait`` see it), audited as ``actor``'s; the
    caller commits."""
    uow.session.add(LoginFailure(username=user.username.lower(), address=address, at=now))
    audit.record(
        uow,
        actor,
        audit.SIGN_IN_FAILED,
        subject_type="user",
        subject_id=user.id,
        detail={"reason": reason},
    )


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


def forget_failures(session: Session, user: User) -> None:
    """Forget every failed sign-in counted against ``user``, from every address: once HQ
    sets a new password, failures with the old one say nothing about it, and the user must
    not wait to sign in with the new one."""
    session.execute(delete(LoginFailure).where(LoginFailure.username == user.username.lower()))


def forget_old_sign_ins(uow: UnitOfWork, now: datetime) -> None:
    """Forget failures that no longer count (older than ``LOGIN_MEMORY``), also those of
    user names never tried again, and addresses an account has not signed in from for
    ``PRM_LOGIN_KNOWN_ADDRESS_KEEP``; one replica does it at a time."""
    keep = timedelta(seconds=get_settings().login_known_address_keep)
    with uow:
        if not try_advisory_lock(uow.session, "partners.sign_ins"):
            return
        uow.session.execute(delete(LoginFailure).where(LoginFailure.at <= now - rules.LOGIN_MEMORY))
        uow.session.execute(
            delete(SignInAddress).where(SignInAddress.last_success_at <= now - keep)
        )
        uow.commit()


# -- signing in, refreshing, logging out -------------------------------------------------


def authenticate(
    uow: UnitOfWork,
    username: str,
    password: str,
    address: str = "unknown",
    now: datetime | None = None,
) -> dict:
    """``{user, refresh_token}``: the user's profile and a new refresh token if the
    password is right and the user may act; else Unauthenticated with the same message
    whatever was wrong, the failure counted.

    While the account must wait from this address (``sign_in_wait``) the attempt is refused
    with TooManyRequests and ``retry_after`` seconds, before the password is looked at, and
    is not counted as a failure. A success forgets the failures from this address and makes
    it one the account is known at.
    """
    now = now or utcnow()
    key = username.lower()
    with uow:
        session = uow.session
        wait = sign_in_wait(session, key, address, now)
        if wait > 0:
            raise TooManyRequests(
                "too many failed sign-ins; try again later", errors={"retry_after": [str(wait)]}
            )
        user = session.scalar(select(User).where(func.lower(User.username) == key))
        reason = None
        if user is None:
            _verify_password(_DUMMY_HASH, password)  # same cost whether the user exists or not
            ok, reason = False, "unknown_user"
        else:
            ok = _verify_password(user.password_hash, password)
            reason = None if ok else "wrong_password"
            if ok:
                try:
                    _active_user(session, user)
                except Unauthenticated:
                    ok, reason = False, "inactive"
        # Who signs in, as the audit log names them: the user when the password proved it;
        # for a failure nobody proved who tried, so the account is its subject only.
        signer = Caller(
            user_id=user.id if ok else None,
            partner_id=user.partner_id if ok else None,
            address=None if address == "unknown" else address,
        )
        if not ok:
            # The failure is counted although the sign-in is refused. An unknown name is
            # not recorded (it may be a password typed into the wrong field).
            session.add(LoginFailure(username=key, address=address, at=now))
            audit.record(
                uow,
                signer,
                audit.SIGN_IN_FAILED,
                subject_type="user",
                subject_id=user.id if user is not None else None,
                detail={"reason": reason},
            )
            uow.commit()
            raise Unauthenticated("invalid credentials")
        if _hasher.check_needs_rehash(user.password_hash):
            user.password_hash = hash_password(password)
        user.last_login_at = now
        session.execute(
            delete(LoginFailure).where(
                LoginFailure.username == key, LoginFailure.address == address
            )
        )
        _remember_address(session, key, address, now)
        profile = caller_profile(session, user.id)
        token = issue_refresh_token(session, profile["id"])
        audit.record(
            uow, signer, audit.SIGN_IN, subject_type="user", subject_id=user.id, actor_id=user.id
        )
        return uow.commit({"user": profile, "refresh_token": token})


def _token_hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def issue_refresh_token(session: Session, user_id: int, family: str | None = None) -> str:
    """A new refresh token of ``user_id`` (of a new family unless ``family`` is given);
    only its hash is stored."""
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


def refresh(uow: UnitOfWork, token: str) -> dict:
    """``{user, refresh_token}``: a refresh token traded for a new one, with the profile.
    A token used twice revokes its whole family (somebody holds a copy): Unauthenticated."""
    now = utcnow()
    with uow:
        session = uow.session
        row = session.scalar(
            select(RefreshToken).where(RefreshToken.token_hash == _token_hash(token))
        )
        if row is None:
            raise Unauthenticated("invalid refresh token")
        if row.revoked_at is not None:
            for sibling in session.scalars(
                select(RefreshToken).where(
                    RefreshToken.family == row.family, RefreshToken.revoked_at.is_(None)
                )
            ):
                sibling.revoked_at = now
            # The family stays revoked although the refresh is refused.
            uow.commit()
            raise Unauthenticated("refresh token already used")
        if as_utc(row.expires_at) <= now:
            raise Unauthenticated("refresh token expired")
        row.revoked_at = now
        profile = caller_profile(session, row.user_id)
        new_token = issue_refresh_token(session, row.user_id, row.family)
        return uow.commit({"user": profile, "refresh_token": new_token})


def logout(uow: UnitOfWork, token: str, user_id: int) -> None:
    """Revoke ``token`` if it is one of ``user_id``'s; another user's token is left alone,
    and the caller is not told which it was."""
    with uow:
        row = uow.session.scalar(
            select(RefreshToken).where(RefreshToken.token_hash == _token_hash(token))
        )
        if row is not None and row.user_id == user_id and row.revoked_at is None:
            row.revoked_at = utcnow()
        return uow.commit(None)


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
