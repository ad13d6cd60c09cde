"""The rules of partners and access, without a database: a partner's states, territories,
the password policy, the sign-in back-off, and what a caller may hand out.

Each function decides from the values it is given and raises a typed error
(``services.common.errors``) when the rule refuses.
"""

from __future__ import annotations

import unicodedata
from collections.abc import Iterable
from datetime import timedelta

from zxcvbn import zxcvbn

from services.common import regions as region_rules
from services.common.config import Settings
from services.common.context import Caller
from services.common.errors import Forbidden, InvalidInput, InvalidState
from services.partners.catalogue import ADMIN_ROLE, HQ, NATIONAL_ONLY, PARTNER, PERMISSIONS_BY_CODE
from services.partners.models import Partner, Role, User
from services.partners.regions import RegionDictionary
from services.partners.schemas import (
    ACTIVE,
    DEFAULT_TERMINATION_REASON,
    HANDOVER_RELEASE,
    HANDOVER_TRANSFER,
    SUSPENDED,
    TERMINATED,
)

# -- partners ---------------------------------------------------------------------------

#: action -> (the states it starts from, the state it leads to)
PARTNER_TRANSITIONS: dict[str, tuple[frozenset[str], str]] = {
    "suspend": (frozenset({ACTIVE}), SUSPENDED),
    "activate": (frozenset({SUSPENDED}), ACTIVE),
    "terminate": (frozenset({ACTIVE, SUSPENDED}), TERMINATED),
}


def status_after(partner: Partner, action: str) -> str:
    """The partner's status after ``action`` (suspend, activate, terminate); InvalidState
    when the action does not apply to its status now."""
    allowed_from, to_status = PARTNER_TRANSITIONS[action]
    if partner.status not in allowed_from:
        raise InvalidState(f"cannot {action} a partner that is {partner.status}")
    return to_status


def check_changeable(partner: Partner) -> None:
    """A terminated partner is final: InvalidState for any change."""
    if partner.status == TERMINATED:
        raise InvalidState("a terminated partner cannot be changed")


def handover_of(partner: Partner, data: dict, receiver: Partner | None) -> dict:
    """How ``partner``'s holdings are handed over at its termination (``TerminateIn``):
    ``{customers, to_partner_id, reason}``. Customers are released unless ``data`` says
    transfer; a receiver is another partner, active: InvalidInput ``unknown_partner`` when
    ``receiver`` (the partner ``to_partner_id`` names) is None, ``invalid_receiver`` when
    it is ``partner`` itself or not active. No body gives the default reason."""
    mode = data.get("customers") or HANDOVER_RELEASE
    reason = (data.get("reason") or "").strip() or DEFAULT_TERMINATION_REASON
    if mode != HANDOVER_TRANSFER:
        return {"customers": HANDOVER_RELEASE, "to_partner_id": None, "reason": reason}
    if receiver is None:
        raise InvalidInput(
            "unknown partner", "unknown_partner", {"to_partner_id": ["unknown partner"]}
        )
    if receiver.id == partner.id:
        raise InvalidInput(
            "a partner cannot take over its own customers",
            "invalid_receiver",
            {"to_partner_id": ["the partner being terminated"]},
        )
    if receiver.status != ACTIVE:
        raise InvalidInput(
            f"the receiving partner is {receiver.status}",
            "invalid_receiver",
            {"to_partner_id": [f"not active: {receiver.status}"]},
        )
    return {"customers": HANDOVER_TRANSFER, "to_partner_id": receiver.id, "reason": reason}


def normalise_territory(
    codes: Iterable[str], dictionary: RegionDictionary, field: str = "territory"
) -> list[str]:
    """Known region codes, without duplicates or codes already covered by another one;
    InvalidInput (``unknown_region``) naming each code not in ``dictionary``.

    A territory of 330000 and 330100 is the same as 330000 alone.
    """
    unique = sorted(set(codes))
    unknown = [code for code in unique if not dictionary.exists(code)]
    if unknown:
        raise InvalidInput(
            "unknown region codes",
            "unknown_region",
            {field: [f"unknown region code {code}" for code in unknown]},
        )
    return [
        code
        for code in unique
        if not any(other != code and region_rules.covers(other, code) for other in unique)
    ]


def check_territory_in_regions(caller: Caller, territory: list[str]) -> None:
    """A regional HQ user (区域经理) gives a partner a territory inside its regions only,
    and not none (a partner of no region would leave its sight): InvalidInput
    (``region_out_of_scope``)."""
    if caller.regions is None:
        return
    outside = [code for code in territory if not caller.sees_region(code)]
    if outside or not territory:
        raise InvalidInput(
            "the territory lies outside your regions",
            "region_out_of_scope",
            {"territory": [f"{code} is outside your regions" for code in outside] or ["empty"]},
        )


# -- passwords and sign-in --------------------------------------------------------------

PASSWORD_MIN_LENGTH = 10
#: zxcvbn's score (0-4) a password needs: 3 is "safely unguessable" by its authors' scale,
#: and what its frequency lists (common passwords, words, names, keyboard walks) and
#: patterns (repeats, sequences, years) bring down.
PASSWORD_MIN_SCORE = 3
#: zxcvbn reads this many characters at most; the rest adds strength it does not count.
_SCORED_LENGTH = 72


#: Unicode categories a password may not hold: control and format characters (zero-width
#: spaces among them, which would pad a weak password past the guessability score) and
#: line or paragraph separators.
_INVISIBLE = frozenset({"Cc", "Cf", "Zl", "Zp"})


def check_password(username: str, password: str, *about_user: str | None) -> None:
    """Refuse a weak password with InvalidInput naming each reason in
    ``errors["password"]``: shorter than 10 characters, containing the user name, or
    guessable (zxcvbn's score below 3, the user's own names counted as known words)."""
    reasons = []
    if any(unicodedata.category(char) in _INVISIBLE for char in password):
        reasons.append("no control or invisible characters (zero-width spaces, line breaks)")
    if len(password) < PASSWORD_MIN_LENGTH:
        reasons.append(f"at least {PASSWORD_MIN_LENGTH} characters")
    if username and username.casefold() in password.casefold():
        reasons.append("must not contain the user name")
    known = [word for word in (username, *about_user) if word]
    if zxcvbn(password[:_SCORED_LENGTH], user_inputs=known)["score"] < PASSWORD_MIN_SCORE:
        reasons.append("too easy to guess: a common password, word or pattern")
    if reasons:
        raise InvalidInput("the password is too weak", errors={"password": reasons})


#: How long failures of one account from one address count towards its back-off; older
#: ones are forgotten (``signin.forget_old_sign_ins``).
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


# -- the caller's permissions, and what it may hand out ---------------------------------


def kind_of(user: User) -> str:
    """``partner`` for a partner's user, ``hq`` for a headquarters user."""
    return PARTNER if user.partner_id is not None else HQ


def permissions_held(user: User) -> list[str]:
    """The permissions the user's roles give it, sorted: only roles of its kind count, and
    only permissions of the catalogue a role of that kind may hold, and none of
    ``NATIONAL_ONLY`` for a user limited to regions."""
    kind = kind_of(user)
    regional = regions_of(user) is not None
    return sorted(
        {
            code
            for role in user.roles
            if role.scope == kind
            for code in role.permissions
            if code in PERMISSIONS_BY_CODE
            and kind in PERMISSIONS_BY_CODE[code].scopes
            and not (regional and code in NATIONAL_ONLY)
        }
    )


def regions_of(user: User) -> list[str] | None:
    """The regions an HQ user is limited to (区域经理): those of its HQ roles when every
    one of them is limited to regions, sorted; None (the whole country) when one is not,
    when it holds no HQ role, and for a partner's user (whose scope is its partners)."""
    if kind_of(user) != HQ:
        return None
    roles = [role for role in user.roles if role.scope == HQ]
    if not roles or any(not role.regions for role in roles):
        return None
    return sorted({code for role in roles for code in role.regions})


def reaches_sub_partners(roles: Iterable[Role]) -> bool:
    """Whether a partner user holding ``roles`` sees its partner's sub-partners too."""
    return any(role.include_sub_partners for role in roles if role.scope == PARTNER)


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


def require_within_own(caller: Caller, permissions: Iterable[str], message: str) -> None:
    """Forbidden (``grant_exceeds_own``) when ``permissions`` hold any the caller may not
    hand out."""
    beyond = permissions_beyond(caller, permissions)
    if beyond:
        raise Forbidden(
            message,
            "grant_exceeds_own",
            {"permissions": [f"not yours to grant: {code}" for code in beyond]},
        )


# -- users ------------------------------------------------------------------------------


def is_active_admin(user: User) -> bool:
    """Whether the user is an active HQ user holding the HQ admin role."""
    return (
        user.active
        and user.partner_id is None
        and any(role.code == ADMIN_ROLE for role in user.roles)
    )


def check_roles_fit(codes: Iterable[str], roles: Iterable[Role], partner: Partner | None) -> None:
    """InvalidInput (``invalid_roles``) unless ``roles`` are all of ``codes`` (none
    unknown), of the kind of user they go to (``partner``'s, or HQ's when None), and, for
    roles limited to partner types, meant for the partner's type."""
    roles = list(roles)
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


def check_own_change(user: User, caller: Caller, data: dict) -> None:
    """Nobody deactivates itself (InvalidInput), changes its own roles (Forbidden,
    ``own_roles``) or sets its own password without the current one (Forbidden,
    ``own_password``)."""
    if user.id != caller.user_id:
        return
    if data.get("active") is False:
        raise InvalidInput("you cannot deactivate yourself", errors={"active": ["own account"]})
    if "roles" in data and set(data["roles"]) != {role.code for role in user.roles}:
        raise Forbidden("you cannot change your own roles", "own_roles", {"roles": ["own account"]})
    if "password" in data:
        # One's own password changes only with the current one (POST /me/password): a
        # stolen admin session must not take the account over here.
        raise Forbidden(
            "change your own password with the current one (POST /api/v1/me/password)",
            "own_password",
            {"password": ["own account"]},
        )


# -- roles ------------------------------------------------------------------------------


def check_role_content(scope: str, data: dict, known_partner_types: Iterable[str]) -> None:
    """InvalidInput unless the role's permissions are of the catalogue and of its scope,
    its partner types known (and given to partner roles only), and only a partner role
    reaches sub-partners."""
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
    known = set(known_partner_types)
    for code in types:
        if code not in known:
            errors.setdefault("partner_types", []).append(f"unknown partner type {code}")
    if data.get("include_sub_partners") and scope != PARTNER:
        errors["include_sub_partners"] = ["only partner roles reach sub-partners"]
    if data.get("regions") and scope != HQ:
        errors["regions"] = ["only HQ roles are limited to regions"]
    if errors:
        raise InvalidInput("the role is not valid", errors=errors)


def check_role_editable(role: Role, held_by_caller: bool) -> None:
    """The HQ admin role is fixed (``admin_role_fixed``) and nobody changes a role it
    holds itself (``role_held``): Forbidden."""
    if role.code == ADMIN_ROLE:
        raise Forbidden(
            "the HQ admin role holds every HQ permission and cannot be changed",
            "admin_role_fixed",
        )
    if held_by_caller:
        raise Forbidden("you cannot change a role you hold", "role_held")
