"""Typed errors: raised by domain code, carried over RPC, mapped to HTTP by the gateway.

Each error's ``args`` are ``(message, code, errors)`` so that Nameko's wire form
(``exc_type``, ``exc_path``, ``exc_args``) carries everything the gateway needs.
"""

from __future__ import annotations

from typing import Any

from nameko.exceptions import deserialize_to_instance


class AppError(Exception):
    """An expected failure with a stable machine ``code``."""

    status = 400
    default_code = "bad_request"

    def __init__(
        self, message: str, code: str | None = None, errors: dict[str, Any] | None = None
    ) -> None:
        super().__init__(message, code or self.default_code, errors or {})

    @property
    def message(self) -> str:
        return self.args[0]

    @property
    def code(self) -> str:
        return self.args[1]

    @property
    def errors(self) -> dict[str, Any]:
        return self.args[2]


class BadRequest(AppError):
    status = 400
    default_code = "bad_request"


class Unauthenticated(AppError):
    status = 401
    default_code = "unauthenticated"


class Forbidden(AppError):
    status = 403
    default_code = "forbidden"


class NotFound(AppError):
    status = 404
    default_code = "not_found"


class Conflict(AppError):
    status = 409
    default_code = "conflict"


class InvalidState(AppError):
    status = 409
    default_code = "invalid_state"


class PayloadTooLarge(AppError):
    status = 413
    default_code = "payload_too_large"


class InvalidInput(AppError):
    status = 422
    default_code = "invalid_input"


class TooManyRequests(AppError):
    status = 429
    default_code = "too_many_requests"


class ServiceUnavailable(AppError):
    status = 503
    default_code = "service_unavailable"


class ServiceTimeout(AppError):
    status = 504
    default_code = "service_timeout"


ERRORS: dict[str, type[AppError]] = {
    cls.__name__: cls
    for cls in (
        BadRequest,
        Unauthenticated,
        Forbidden,
        NotFound,
        Conflict,
        InvalidState,
        PayloadTooLarge,
        InvalidInput,
        TooManyRequests,
        ServiceUnavailable,
        ServiceTimeout,
    )
}


for _cls in ERRORS.values():
    # Services calling services get our typed errors back, not Nameko's RemoteError.
    deserialize_to_instance(_cls)


def from_wire(error: dict[str, Any]) -> AppError | None:
    """Rebuild a typed error from Nameko's serialised form; None if it is not one of ours."""
    if not str(error.get("exc_path", "")).startswith(f"{__name__}."):
        return None
    cls = ERRORS.get(error.get("exc_type", ""))
    if cls is None:
        return None
    args = list(error.get("exc_args") or [])
    message = args[0] if args else str(error.get("value", ""))
    code = args[1] if len(args) > 1 else None
    errors = args[2] if len(args) > 2 and isinstance(args[2], dict) else None
    return cls(message, code, errors)
