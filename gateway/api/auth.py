"""Sign-in, tokens and the signed-in user (partners service).

Passwords and refresh tokens cross the bus sealed (``sealing.seal_for``): the password for
the partners service, the refresh token of a reply for the gateway. Access tokens never
cross it: the gateway issues them.
"""

from __future__ import annotations

from flask import Response, g, jsonify, request
from flask.typing import ResponseReturnValue

from gateway.api.common import Blueprint, document_errors, wire
from gateway.context import (
    authenticated,
    call,
    current_caller,
    issue_access_token,
    system_call,
)
from services.common.sealing import open_sealed_for, seal_for
from services.partners.schemas import LoginIn, MeOut, OwnPasswordIn, RefreshIn, TokensOut

blp = Blueprint("auth", __name__, url_prefix="/api/v1", description="Sign-in and tokens")


def _sealed(payload: dict, field: str) -> dict:
    """``payload`` with its secret ``field`` sealed for the partners service."""
    return payload | {field: seal_for("partners", payload[field])}


def _tokens(result: dict) -> Response:
    user = result["user"]
    access_token, expires_in = issue_access_token(user["id"], user["token_version"])
    return jsonify(
        {
            "access_token": access_token,
            "refresh_token": open_sealed_for("gateway", result["refresh_token"]),
            "token_type": "Bearer",
            "expires_in": expires_in,
            "user": {key: user[key] for key in ("id", "username", "display_name", "partner_id")},
        }
    )


@blp.post("/auth/login")
@blp.arguments(LoginIn)
@blp.response(200, TokensOut)
@document_errors(blp, 401, 422, 429)
@blp.doc(security=[])
def login(data: dict) -> ResponseReturnValue:
    """Sign in with user name and password. Repeated failures make the account wait
    (429 with Retry-After) from the address they came from, not from elsewhere."""
    # The client's address: the peer's, or read from X-Forwarded-For as far as the
    # trusted proxies go (PRM_TRUSTED_PROXIES, applied in gateway.app).
    address = request.remote_addr or "unknown"
    payload = _sealed(wire(LoginIn, data), "password")
    return _tokens(system_call("partners", "authenticate", payload, address))


@blp.post("/auth/refresh")
@blp.arguments(RefreshIn)
@blp.response(200, TokensOut)
@document_errors(blp, 401, 422)
@blp.doc(security=[])
def refresh(data: dict) -> ResponseReturnValue:
    """Trade a refresh token for new tokens (the old refresh token stops working)."""
    return _tokens(
        system_call("partners", "refresh", _sealed(wire(RefreshIn, data), "refresh_token"))
    )


@blp.post("/auth/logout")
@blp.arguments(RefreshIn)
@blp.response(204)
@document_errors(blp, 401, 422)
@authenticated
def logout(data: dict) -> ResponseReturnValue:
    """Revoke the caller's own refresh token; another user's is left working (204 either
    way)."""
    call("partners", "logout", _sealed(wire(RefreshIn, data), "refresh_token"))
    return "", 204


@blp.get("/me")
@blp.response(200, MeOut)
@document_errors(blp, 401)
@authenticated
def me() -> ResponseReturnValue:
    """The signed-in user: roles, permissions and the partners in scope."""
    current_caller()
    return jsonify(g.profile)


@blp.post("/me/password")
@blp.arguments(OwnPasswordIn)
@blp.response(204)
@document_errors(blp, 401, 422, 429)
@authenticated
def change_own_password(data: dict) -> ResponseReturnValue:
    """Change one's own password, proving the current one. A wrong current password counts
    as a failed sign-in (422 ``wrong_password``; repeated, 429 with Retry-After); a weak new
    one is refused as at user creation. Every session of the user ends, this one too: sign
    in again with the new password."""
    # Both passwords cross the bus sealed for the partners service only.
    payload = {key: seal_for("partners", data[key]) for key in ("current_password", "new_password")}
    call("partners", "change_own_password", payload)
    return "", 204
