"""Approval flows, configured by HQ: each kind lives in the service that runs it."""

from __future__ import annotations

from flask import jsonify
from flask.typing import ResponseReturnValue

from gateway.api.common import Blueprint, document_errors, wire
from gateway.context import call, requires
from services.common.errors import NotFound
from services.common.schemas import FlowIn, FlowOut

blp = Blueprint("flows", __name__, url_prefix="/api/v1", description="Approval flows")

FLOW_SERVICES = {"filing": "filing", "order": "orders"}


def _service(kind: str) -> str:
    if kind not in FLOW_SERVICES:
        raise NotFound(f"no approval flow of kind {kind!r}")
    return FLOW_SERVICES[kind]


@blp.get("/approval-flows/<string:kind>")
@blp.response(200, FlowOut)
@document_errors(blp, 401, 403, 404)
@requires("flow.manage", hq=True)
def get_flow(kind: str) -> ResponseReturnValue:
    """The steps of the ``filing`` or ``order`` flow."""
    return jsonify(call(_service(kind), "get_approval_flow"))


@blp.put("/approval-flows/<string:kind>")
@blp.arguments(FlowIn)
@blp.response(200, FlowOut)
@document_errors(blp, 401, 403, 404, 422)
@requires("flow.manage", hq=True)
def set_flow(data: dict, kind: str) -> ResponseReturnValue:
    """Replace the steps; flows already running keep the steps they started with."""
    return jsonify(call(_service(kind), "set_approval_flow", wire(FlowIn, data)))
