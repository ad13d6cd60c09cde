"""The caller: who acts, for which tenant, with which permissions.

The gateway builds the caller after verifying the user's token and sends it with every
RPC as the ``nameko.caller`` header, signed with the internal key. Services verify the
signature before any worker runs (see ``entrypoints.rpc``) and read the caller through
the ``CallerContext`` dependency. Event handlers and timers act as the system.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from functools import lru_cache

import jwt
import structlog
from nameko.extensions import DependencyProvider

from services.common.config import get_settings
from services.common.errors import Forbidden, Unauthenticated
from services.common.timeutil import as_utc, iso, utcnow

CALLER_KEY = "caller"
REQUEST_ID_KEY = "request_id"
_AUDIENCE = "prm-internal"
_ALGORITHM = "HS256"


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
        )


def sign_caller(caller: Caller, key: str | None = None) -> str:
    """A short-lived token carrying the caller, signed with the internal key."""
    settings = get_settings()
    now = utcnow()
    claims = caller.to_claims() | {
        "aud": _AUDIENCE,
        "iat": now,
        "exp": now + timedelta(seconds=settings.caller_token_ttl),
    }
    return jwt.encode(claims, key or settings.internal_key, algorithm=_ALGORITHM)


def verify_caller(token: object, key: str | None = None) -> Caller:
    """The caller in ``token``; Unauthenticated if it is missing, forged or expired."""
    if not isinstance(token, str) or not token:
        raise Unauthenticated("no caller context")
    caller, expires = _decode_caller(token, key or get_settings().internal_key)
    if expires <= time.time():
        raise Unauthenticated("invalid caller context")
    return caller


def caller_of_accepted_call(token: str) -> Caller:
    """The caller of a call whose context was verified when it arrived: its signature is
    checked again, its expiry not (a long call may outlast it)."""
    return _decode_caller(token, get_settings().internal_key)[0]


@lru_cache(maxsize=4096)
def _decode_caller(token: str, key: str) -> tuple[Caller, float]:
    # Cached: the entrypoint and the dependency both verify the same token of a call.
    # Failures raise and are never cached; expiry is checked on every use, by the caller
    # of this function (``verify_caller``), never here, so that a hit and a miss agree.
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
    return Caller.from_claims(claims), float(claims["exp"])


def is_system_entrypoint(entrypoint: object) -> bool:
    """Event handlers and timers act as the system, not as whoever caused the event."""
    return getattr(entrypoint, "acts_as_system", False)


class CallerContext(DependencyProvider):
    """Injects the verified ``Caller`` of the running worker.

    RPC workers get the caller the gateway signed (already verified by the entrypoint);
    event handlers and timers get the system caller, which is also signed into the worker's
    context so that RPCs they make carry it.
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
