"""The caller: who acts, for which tenant, with which permissions.

The gateway builds the caller after verifying the user's token and sends it with every
RPC as the ``nameko.caller`` header, signed with the internal key. Services verify the
signature before any worker runs (see ``entrypoints.rpc``) and read the caller through
the ``CallerContext`` dependency. Event handlers and timers act as the system.

A token on the bus is bound to its one call (``sign_call``): it names the service, the
method, the message's correlation id and the digest of its arguments (``call_digest``),
and lives as long as the call's timeout and ``CALL_SKEW``. Whoever reads the bus cannot
use it for another method, other arguments, another message or later: the entry point
compares all four with the message it received (``verify_call``). Every call is signed
anew, by the gateway and by a service calling a peer (``services.common.rpc``).
"""

from __future__ import annotations

import hashlib
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from functools import lru_cache
from typing import Any, NamedTuple

import jwt
import structlog
from jwt.algorithms import HMACAlgorithm
from kombu.utils import json as wire_json
from nameko.extensions import DependencyProvider

from services.common.config import get_settings
from services.common.errors import Forbidden, Unauthenticated
from services.common.regions import region_prefix
from services.common.timeutil import as_utc, iso, utcnow

CALLER_KEY = "caller"
REQUEST_ID_KEY = "request_id"
CALLER_HEADER = f"nameko.{CALLER_KEY}"
_AUDIENCE = "prm-internal"
_ALGORITHM = "HS256"
#: Seconds a call's token outlives the call's timeout: the clocks of two hosts differ a
#: little, and the callee checks the expiry when the message arrives.
CALL_SKEW = 5.0
#: The claims that bind a token to its call.
_BINDING_CLAIMS = ("svc", "mth", "cid", "dig")


class _KeyCheckedOnce(HMACAlgorithm):
    """HS256 that checks a key once, not on every token. PyJWT makes sure that an HMAC key
    is no asymmetric key (PEM, SSH or DER) each time it signs or verifies with it, about
    a tenth of what the gateway spends on a request; the keys here are the settings' own
    (the internal key, the access tokens' secret), the same on every call."""

    @lru_cache(maxsize=8)  # noqa: B019 - one instance for the process, a few keys
    def prepare_key(self, key: str | bytes) -> bytes:
        return super().prepare_key(key)


# Every token of the project, caller and access tokens alike, is signed and verified with
# PyJWT's module functions, so this one registration serves them all.
jwt.unregister_algorithm(_ALGORITHM)
jwt.register_algorithm(_ALGORITHM, _KeyCheckedOnce(HMACAlgorithm.SHA256))


@dataclass(frozen=True)
class Caller:
    """An authenticated actor.

    ``partner_ids`` is the set of partners whose rows the caller may see: the own partner
    plus descendants where a role allows; ``None`` means every partner (HQ and the system).
    ``credentials_set_at`` is when someone other than the user last set its password or
    roles, or created it (segregation of duties compares it with a flow's start); ``None``
    when unknown, as in contexts signed before it travelled with the caller.
    """

    user_id: int | None = None
    partner_id: int | None = None
    partner_ids: frozenset[int] | None = None
    permissions: frozenset[str] = field(default_factory=frozenset)
    request_id: str | None = None
    system: str | None = None
    credentials_set_at: datetime | None = None
    #: Where the request came from (the client's address as the gateway saw it), for the
    #: audit trail; ``None`` for the system and for calls made before it travelled.
    address: str | None = None
    #: The regions a regional HQ user (区域经理) is limited to; ``None`` for the whole
    #: country and for partner users (whose scope is their partners). Such a user's
    #: ``partner_ids`` are the partners whose territory lies in these regions.
    regions: frozenset[str] | None = None

    @classmethod
    def system_caller(cls, component: str, request_id: str | None = None) -> Caller:
        return cls(system=component, request_id=request_id)

    @property
    def is_system(self) -> bool:
        return self.system is not None

    @property
    def is_hq(self) -> bool:
        """An HQ user (no partner) or the system itself."""
        return self.partner_id is None

    @property
    def is_regional(self) -> bool:
        """An HQ user limited to regions (区域经理)."""
        return self.regions is not None

    def require_national(self) -> None:
        """Forbidden (``regional_staff``) for a regional HQ user: what reaches beyond any
        region (roles, HQ accounts, settings of the whole country) is not theirs."""
        if self.is_regional:
            raise Forbidden("regional headquarters staff may not do this", "regional_staff")

    def sees_region(self, region_code: str | None) -> bool:
        """Whether a row of ``region_code`` that belongs to no partner (a customer in the
        pool, a lead in the HQ queue) is the caller's to see: every HQ user outside a
        region limit, a regional one inside its regions."""
        if self.regions is None:
            return True
        return region_code is not None and any(
            region_code.startswith(region_prefix(region)) for region in self.regions
        )

    def has(self, permission: str) -> bool:
        return self.is_system or permission in self.permissions

    def require(self, permission: str) -> None:
        """Function-level check: raise Forbidden unless the caller holds the permission."""
        if not self.has(permission):
            raise Forbidden(f"permission {permission!r} is required")

    def require_hq(self, permission: str | None = None) -> None:
        """Raise Forbidden unless the caller is HQ (and holds ``permission`` when given)."""
        if not self.is_hq:
            raise Forbidden("only headquarters may do this")
        if permission:
            self.require(permission)

    def sees_partner(self, partner_id: int | None) -> bool:
        """Object-level check for a row owned by ``partner_id``."""
        if self.partner_ids is None:
            return True
        return partner_id is not None and partner_id in self.partner_ids

    def sees_row(self, partner_id: int | None, region_code: str | None = None) -> bool:
        """Object-level check for a row owned by ``partner_id`` that lies in
        ``region_code``: a row of no partner is a regional HQ user's in its regions."""
        if self.sees_partner(partner_id):
            return True
        return (
            partner_id is None
            and region_code is not None
            and self.is_regional
            and self.sees_region(region_code)
        )

    def to_claims(self) -> dict:
        return {
            "uid": self.user_id,
            "pid": self.partner_id,
            "scope": None if self.partner_ids is None else sorted(self.partner_ids),
            "perms": sorted(self.permissions),
            "rid": self.request_id,
            "sys": self.system,
            "cred": iso(self.credentials_set_at),
            "addr": self.address,
            "regs": None if self.regions is None else sorted(self.regions),
        }

    @classmethod
    def from_claims(cls, claims: dict) -> Caller:
        scope = claims.get("scope")
        credentials = claims.get("cred")
        return cls(
            user_id=claims.get("uid"),
            partner_id=claims.get("pid"),
            partner_ids=None if scope is None else frozenset(int(p) for p in scope),
            permissions=frozenset(claims.get("perms") or ()),
            request_id=claims.get("rid"),
            system=claims.get("sys"),
            credentials_set_at=as_utc(datetime.fromisoformat(credentials)) if credentials else None,
            address=claims.get("addr"),
            regions=None if claims.get("regs") is None else frozenset(claims["regs"]),
        )


class CallBinding(NamedTuple):
    """The one call a token is good for."""

    service: str
    method: str
    correlation_id: str
    digest: str


def _canonical(decoded: object) -> bytes:
    # Keys sorted, no spaces, ASCII only: the same bytes for the same decoded values.
    # Decimals, dates and bytes keep kombu's typed form, which decoding gave back.
    return wire_json.dumps(
        decoded, sort_keys=True, separators=(",", ":"), ensure_ascii=True
    ).encode("ascii")


def received_digest(args: object, kwargs: object) -> str:
    """SHA-256 (hex) of the arguments of a message as the consumer decoded them."""
    return hashlib.sha256(_canonical({"args": args, "kwargs": kwargs})).hexdigest()


def call_digest(args: Sequence[Any], kwargs: Mapping[str, Any]) -> str:
    """SHA-256 (hex) of the arguments of a call about to be sent, as its consumer will
    compute it: over what the wire's JSON (kombu's, the gateway's and Nameko's) decodes
    to, so that tuples, Decimals, dates and any text give the same digest on both sides."""
    body = {"args": list(args), "kwargs": dict(kwargs)}
    return received_digest(**wire_json.loads(wire_json.dumps(body)))


def _sign(caller: Caller, ttl: float, key: str | None, extra: dict) -> str:
    settings = get_settings()
    now = utcnow()
    claims = (
        caller.to_claims()
        | extra
        | {"aud": _AUDIENCE, "iat": now, "exp": now + timedelta(seconds=ttl)}
    )
    return jwt.encode(claims, key or settings.internal_key, algorithm=_ALGORITHM)


def sign_caller(caller: Caller, key: str | None = None) -> str:
    """A short-lived token carrying the caller, signed with the internal key, bound to no
    call: it rides in a worker's context (a handler's or a timer's system caller) and is
    refused by every RPC entry point. Calls carry ``sign_call``'s tokens."""
    return _sign(caller, get_settings().caller_token_ttl, key, {})


def sign_call(
    caller: Caller,
    binding: CallBinding,
    timeout: float,
    key: str | None = None,
) -> str:
    """The caller's token for one call (``binding``), living ``timeout`` + ``CALL_SKEW``
    seconds."""
    extra = dict(zip(_BINDING_CLAIMS, binding, strict=True))
    return _sign(caller, float(timeout) + CALL_SKEW, key, extra)


def bind_call(
    caller: Caller,
    service: str,
    method: str,
    correlation_id: str,
    args: Sequence[Any],
    kwargs: Mapping[str, Any],
    timeout: float,
    key: str | None = None,
) -> str:
    """``sign_call`` for ``service.method(*args, **kwargs)`` sent with ``correlation_id``."""
    binding = CallBinding(service, method, correlation_id, call_digest(args, kwargs))
    return sign_call(caller, binding, timeout, key)


def verify_caller(token: object, key: str | None = None) -> Caller:
    """The caller in ``token``; Unauthenticated if it is missing, forged or expired."""
    return _verified(token, key).caller


def verify_call(token: object, binding: CallBinding, key: str | None = None) -> Caller:
    """The caller in ``token`` if it is valid and bound to the call ``binding`` describes
    (the message as received); Unauthenticated otherwise, with the same message whatever
    did not match."""
    decoded = _verified(token, key)
    if decoded.binding != binding:
        raise Unauthenticated("invalid caller context")
    return decoded.caller


def caller_of_accepted_call(token: str) -> Caller:
    """The caller of a call whose context was verified when it arrived: its signature is
    checked again, its expiry not (a long call may outlast it)."""
    return _decode_caller(token, get_settings().internal_key).caller


class _Decoded(NamedTuple):
    caller: Caller
    expires: float
    binding: CallBinding | None


def _verified(token: object, key: str | None) -> _Decoded:
    if not isinstance(token, str) or not token:
        raise Unauthenticated("no caller context")
    decoded = _decode_caller(token, key or get_settings().internal_key)
    if decoded.expires <= time.time():
        raise Unauthenticated("invalid caller context")
    return decoded


@lru_cache(maxsize=4096)
def _decode_caller(token: str, key: str) -> _Decoded:
    # Cached: the entrypoint and the dependency both verify the same token of a call.
    # Failures raise and are never cached; expiry and binding are checked on every use,
    # by the callers of this function, never here, so that a hit and a miss agree (the
    # binding is part of the signed token, so a hit is for the same binding).
    try:
        claims = jwt.decode(
            token,
            key,
            algorithms=[_ALGORITHM],
            audience=_AUDIENCE,
            options={"require": ["exp", "iat", "aud"], "verify_exp": False},
        )
    except jwt.PyJWTError as exc:
        raise Unauthenticated("invalid caller context") from exc
    bound = [claims.get(name) for name in _BINDING_CLAIMS]
    binding = CallBinding(*bound) if all(isinstance(v, str) for v in bound) else None
    return _Decoded(Caller.from_claims(claims), float(claims["exp"]), binding)


def is_system_entrypoint(entrypoint: object) -> bool:
    """Event handlers and timers act as the system, not as whoever caused the event."""
    return getattr(entrypoint, "acts_as_system", False)


class CallerContext(DependencyProvider):
    """Injects the verified ``Caller`` of the running worker.

    RPC workers get the caller the gateway signed (already verified by the entrypoint);
    event handlers and timers get the system caller, which is also signed into the worker's
    context (bound to no call: no entry point accepts it). The RPCs a worker makes carry
    its caller signed anew for each call (``services.common.rpc``).
    """

    def worker_setup(self, worker_ctx) -> None:
        # Each worker runs in its own green thread, so its log context is its own.
        structlog.contextvars.clear_contextvars()
        structlog.contextvars.bind_contextvars(
            service=self.container.service_name,
            request_id=worker_ctx.data.get(REQUEST_ID_KEY),
            call=f"{self.container.service_name}.{worker_ctx.entrypoint.method_name}",
        )

    def get_dependency(self, worker_ctx) -> Caller:
        if is_system_entrypoint(worker_ctx.entrypoint):
            caller = Caller.system_caller(
                self.container.service_name, worker_ctx.data.get(REQUEST_ID_KEY)
            )
            worker_ctx.data[CALLER_KEY] = sign_caller(caller)
            return caller
        return verify_caller(worker_ctx.data.get(CALLER_KEY))
