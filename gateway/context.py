"""The request's caller, and the one way views call services."""

from __future__ import annotations

import re
from collections.abc import Callable
from datetime import datetime
from functools import wraps
from typing import Any

import jwt
from flask import current_app, g, request

from gateway.callers import Callers
from services.common.context import Caller
from services.common.errors import Forbidden, InvalidInput, Unauthenticated
from services.common.idempotency import MAX_KEY_LENGTH
from services.common.timeutil import as_utc, utcnow

_ALGORITHM = "HS256"
_ISSUER = "prm-gateway"


def issue_access_token(user_id: int, token_version: int = 0) -> tuple[str, int]:
    """A short-lived access token for ``user_id``; (token, seconds to expiry).

    ``token_version`` is the user's at issue: the partners service refuses the token once
    the user's password, roles or activity have changed since."""
    settings = current_app.config["PRM_SETTINGS"]
    now = utcnow()
    ttl = settings.access_token_ttl
    claims = {
        "sub": str(user_id),
        "ver": token_version,
        "typ": "access",
        "iss": _ISSUER,
        "iat": now,
        "exp": int(now.timestamp()) + ttl,
    }
    return jwt.encode(claims, settings.jwt_secret, algorithm=_ALGORITHM), ttl


def decode_access_token(token: str) -> tuple[int, int]:
    """The user id and token version in a valid access token; Unauthenticated otherwise
    (the algorithm is pinned, ``exp`` is required). A token without a version is of
    version 0, the version of every user before its first change."""
    settings = current_app.config["PRM_SETTINGS"]
    try:
        claims = jwt.decode(
            token,
            settings.jwt_secret,
            algorithms=[_ALGORITHM],
            issuer=_ISSUER,
            options={"require": ["exp", "iat", "sub", "iss"]},
        )
    except jwt.ExpiredSignatureError as exc:
        raise Unauthenticated("the access token has expired; refresh it") from exc
    except jwt.PyJWTError as exc:
        raise Unauthenticated("invalid access token") from exc
    version = claims.get("ver", 0)
    if (
        claims.get("typ") != "access"
        or not str(claims.get("sub", "")).isdigit()
        or type(version) is not int
    ):
        raise Unauthenticated("invalid access token")
    return int(claims["sub"]), version


def system_call(service: str, method: str, *args: Any, **kwargs: Any) -> Any:
    """Call a service as the gateway itself (sign-in, resolving the caller, health),
    signed for this call only."""
    caller = Caller.system_caller("gateway", g.get("request_id"))
    return current_app.extensions["prm_rpc"].call(
        service, method, *args, caller=caller, request_id=g.get("request_id"), **kwargs
    )


def current_caller() -> Caller:
    """The verified caller of this request, resolved once per request.

    The worker keeps resolved callers while partners' events say nothing changed
    (gateway/callers.py); otherwise ``partners.get_caller`` looks the user and partner up,
    so a suspended partner's users are refused at once, whatever tokens they still hold.
    """
    if "caller" in g:
        return g.caller
    header = request.headers.get("Authorization", "")
    scheme, _, token = header.partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise Unauthenticated("a bearer token is required")
    user_id, version = decode_access_token(token.strip())
    callers: Callers = current_app.extensions["prm_callers"]
    profile = callers.resolve(
        (user_id, version), lambda: system_call("partners", "get_caller", user_id, version)
    )
    ids = profile.get("partner_ids")
    regions = profile.get("regions")
    credentials_set_at = profile.get("credentials_set_at")
    g.profile = {
        key: value
        for key, value in profile.items()
        if key not in ("token_version", "credentials_set_at")
    }
    g.caller = Caller(
        user_id=profile["id"],
        partner_id=profile.get("partner_id"),
        partner_ids=None if ids is None else frozenset(ids),
        regions=None if regions is None else frozenset(regions),
        permissions=frozenset(profile.get("permissions") or ()),
        request_id=g.get("request_id"),
        address=request.remote_addr,
        credentials_set_at=(
            as_utc(datetime.fromisoformat(credentials_set_at)) if credentials_set_at else None
        ),
    )
    return g.caller


def call(service: str, method: str, *args: Any, **kwargs: Any) -> Any:
    """Call a service as the request's caller (with the request's idempotency key): the
    caller is resolved once per request and signed for each call. A call that changes
    callers is fenced (``Callers.fence``)."""
    callers: Callers = current_app.extensions["prm_callers"]
    with callers.fence(service, method):
        return current_app.extensions["prm_rpc"].call(
            service,
            method,
            *args,
            caller=current_caller(),
            request_id=g.get("request_id"),
            idempotency_key=g.get("idempotency_key"),
            **kwargs,
        )


#: What a client may send as ``Idempotency-Key``: visible ASCII (a UUID, say).
_IDEMPOTENCY_KEY = re.compile(rf"[\x21-\x7e]{{1,{MAX_KEY_LENGTH}}}")


def requires(permission: str | None = None, *, hq: bool = False) -> Callable:
    """Function-level check in the gateway (the service checks again)."""

    def decorator(view: Callable) -> Callable:
        @wraps(view)
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            check_access(permission, hq)
            return view(*args, **kwargs)

        # Read by ``check_view_access`` before the body is parsed, so that a caller who may
        # not call the route learns nothing from validation errors.
        wrapper.prm_access = (permission, hq)
        return wrapper

    return decorator


def check_access(permission: str | None, hq: bool) -> Caller:
    """The request's caller, if it is HQ when ``hq`` and holds ``permission`` (when one is
    named); Unauthenticated or Forbidden otherwise."""
    caller = current_caller()
    if hq and not caller.is_hq:
        raise Forbidden("only headquarters may do this")
    if permission and not caller.has(permission):
        raise Forbidden(f"permission {permission!r} is required")
    return caller


def check_view_access() -> None:
    """before_request: authenticate and authorise the route's caller first of all; then
    take the idempotency key of a route that honours one."""
    view = current_app.view_functions.get(request.endpoint or "")
    access = getattr(view, "prm_access", None)
    if access is not None:
        check_access(*access)
    key = request.headers.get("Idempotency-Key")
    # Marked by ``gateway.api.common.idempotent``.
    if key is not None and getattr(view, "prm_idempotent", False):
        if not _IDEMPOTENCY_KEY.fullmatch(key):
            raise InvalidInput(
                "the request is not valid",
                errors={
                    "Idempotency-Key": [
                        f"1 to {MAX_KEY_LENGTH} visible ASCII characters, such as a UUID"
                    ]
                },
            )
        g.idempotency_key = key


def authenticated(view: Callable) -> Callable:
    """Decorator: the view needs a signed-in user, with no particular permission."""
    return requires()(view)
