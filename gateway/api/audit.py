"""The audit log (kept by the partners service, fed by every service)."""

from __future__ import annotations

from flask import jsonify
from flask.typing import ResponseReturnValue

from gateway.api.common import Blueprint, document_errors, page_schema, wire
from gateway.context import call, requires
from services.partners.schemas import AuditListArgs, AuditRecordOut

blp = Blueprint(
    "audit",
    __name__,
    url_prefix="/api/v1",
    description="The append-only audit log: who did what to which object, when, from where",
)


@blp.get("/audit")
@blp.arguments(AuditListArgs, location="query")
@blp.response(200, page_schema(AuditRecordOut))
@document_errors(blp, 401, 403, 422)
@requires("audit.read", hq=True)
def list_audit(args: dict) -> ResponseReturnValue:
    """Audit records, newest first: sign-ins and failed sign-ins, changes of users, roles
    and passwords, terminated partners, commission rates, paid statements, report exports,
    transfers, releases and personal data revealed. Filters: ``actor_id``, ``action``,
    ``subject_type`` with ``subject_id``, ``from`` and ``to`` (times with a zone, both
    included). HQ users holding ``audit.read`` only; partner users are refused (403)."""
    return jsonify(call("partners", "list_audit", wire(AuditListArgs, args)))
