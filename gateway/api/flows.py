"""Approval flows, configured by HQ: each kind lives in the service that runs it."""

from __future__ import annotations

from flask import jsonify
from flask.typing import ResponseReturnValue

from gateway.api.common import Blueprint, document_errors, wire
from gateway.context import call, requires
from services.common.errors import NotFound
from services.common.schemas import FlowIn, FlowOut

blp = Blueprint("flows", __name__, url_prefix="/api/v1", description="Approval flows")

FLOW_SERVICES = {"filing": "filing", "order": "orders", "extension": "filing"}
#: The calls that read and replace a kind's flow, where its service runs several kinds.
FLOW_CALLS = {"extension": ("get_extension_flow", "set_extension_flow")}
_FLOW_CALLS = ("get_approval_flow", "set_approval_flow")


def _service(kind: str) -> str:
    if kind not in FLOW_SERVICES:
        raise NotFound(f"no approval flow of kind {kind!r}")
    return FLOW_SERVICES[kind]


@blp.get("/approval-flows/<string:kind>")
@blp.response(200, FlowOut)
@document_errors(blp, 401, 403, 404)
@requires("flow.manage", hq=True)
def get_flow(kind: str) -> ResponseReturnValue:
    """The steps of the ``filing``, ``order`` or ``extension`` flow."""
    service = _service(kind)
    return jsonify(call(service, FLOW_CALLS.get(kind, _FLOW_CALLS)[0]))


@blp.put("/approval-flows/<string:kind>")
@blp.arguments(FlowIn)
@blp.response(200, FlowOut)
@document_errors(blp, 401, 403, 404, 422)
@requires("flow.manage", hq=True)
def set_flow(data: dict, kind: str) -> ResponseReturnValue:
    """Replace the steps; flows already running keep the steps they started with."""
    service = _service(kind)
    return jsonify(call(service, FLOW_CALLS.get(kind, _FLOW_CALLS)[1], wire(FlowIn, data)))
