"""Users, roles and the permission catalogue (partners service)."""

from __future__ import annotations

from flask import jsonify
from flask.typing import ResponseReturnValue

from gateway.api.common import Blueprint, document_errors, idempotent, page_schema, wire
from gateway.context import authenticated, call, requires
from services.common.sealing import seal_for
from services.partners.schemas import (
    PermissionOut,
    RoleCreate,
    RoleListArgs,
    RoleOut,
    RoleUpdate,
    UserCreate,
    UserListArgs,
    UserOut,
    UserUpdate,
)

blp = Blueprint("people", __name__, url_prefix="/api/v1", description="Users, roles, permissions")


@blp.get("/users")
@blp.arguments(UserListArgs, location="query")
@blp.response(200, page_schema(UserOut))
@document_errors(blp, 401, 403, 422)
@requires("user.manage")
def list_users(args: dict) -> ResponseReturnValue:
    """HQ: every user; a partner admin: its own partner's users."""
    return jsonify(call("partners", "list_users", wire(UserListArgs, args)))


@blp.post("/users")
@blp.arguments(UserCreate)
@blp.response(201, UserOut)
@document_errors(blp, 401, 403, 409, 422)
@idempotent(blp, "partners.create_user")
@requires("user.manage")
def create_user(data: dict) -> ResponseReturnValue:
    """Create a user; a partner admin creates users of its own partner only."""
    # The password crosses the bus sealed for the partners service only.
    payload = wire(UserCreate, data) | {"password": seal_for("partners", data["password"])}
    return jsonify(call("partners", "create_user", payload)), 201


@blp.get("/users/<int:user_id>")
@blp.response(200, UserOut)
@document_errors(blp, 401, 403, 404)
@authenticated
def get_user(user_id: int) -> ResponseReturnValue:
    return jsonify(call("partners", "get_user", user_id))


@blp.patch("/users/<int:user_id>")
@blp.arguments(UserUpdate)
@blp.response(200, UserOut)
@document_errors(blp, 401, 403, 404, 409, 422)
@requires("user.manage")
def update_user(data: dict, user_id: int) -> ResponseReturnValue:
    """Change a user holding nothing the caller does not; never the caller's own roles,
    and never so that no active HQ admin is left (409 last_admin)."""
    payload = wire(UserUpdate, data)
    if "password" in data:
        payload["password"] = seal_for("partners", data["password"])
    return jsonify(call("partners", "update_user", user_id, payload))


@blp.get("/permissions")
@blp.response(200, PermissionOut(many=True))
@document_errors(blp, 401)
@authenticated
def list_permissions() -> ResponseReturnValue:
    """The permission catalogue."""
    return jsonify(call("partners", "list_permissions"))


@blp.get("/roles")
@blp.arguments(RoleListArgs, location="query")
@blp.response(200, page_schema(RoleOut))
@document_errors(blp, 401, 403, 422)
@authenticated
def list_roles(args: dict) -> ResponseReturnValue:
    """HQ with role.manage: every role; a partner admin: the roles it may give."""
    return jsonify(call("partners", "list_roles", wire(RoleListArgs, args)))


@blp.post("/roles")
@blp.arguments(RoleCreate)
@blp.response(201, RoleOut)
@document_errors(blp, 401, 403, 409, 422)
@idempotent(blp, "partners.create_role")
@requires("role.manage", hq=True)
def create_role(data: dict) -> ResponseReturnValue:
    return jsonify(call("partners", "create_role", wire(RoleCreate, data))), 201


@blp.get("/roles/<int:role_id>")
@blp.response(200, RoleOut)
@document_errors(blp, 401, 403, 404)
@authenticated
def get_role(role_id: int) -> ResponseReturnValue:
    return jsonify(call("partners", "get_role", role_id))


@blp.patch("/roles/<int:role_id>")
@blp.arguments(RoleUpdate)
@blp.response(200, RoleOut)
@document_errors(blp, 401, 403, 404, 422)
@requires("role.manage", hq=True)
def update_role(data: dict, role_id: int) -> ResponseReturnValue:
    """Change a role: not the HQ admin role, not one the caller holds, and only to
    permissions the caller holds."""
    return jsonify(call("partners", "update_role", role_id, wire(RoleUpdate, data)))
