"""Partners, their territories and types; the region dictionary (partners service)."""

from __future__ import annotations

from collections.abc import Callable

from flask import jsonify
from flask.typing import ResponseReturnValue

from gateway.api.common import Blueprint, document_errors, idempotent, page_schema, wire
from gateway.context import authenticated, call, requires
from services.partners.schemas import (
    HandoverOut,
    PartnerCreate,
    PartnerGradeOut,
    PartnerGradesIn,
    PartnerListArgs,
    PartnerOut,
    PartnerTypeOut,
    PartnerTypeUpdate,
    PartnerUpdate,
    RegionListArgs,
    RegionOut,
    ResolveArgs,
    ResolvedOut,
    TerminateIn,
    TerritoryIn,
)

blp = Blueprint("partners", __name__, url_prefix="/api/v1", description="Partners and territories")


@blp.get("/partners")
@blp.arguments(PartnerListArgs, location="query")
@blp.response(200, page_schema(PartnerOut))
@document_errors(blp, 401, 422)
@authenticated
def list_partners(args: dict) -> ResponseReturnValue:
    """Partners in the caller's scope (HQ: all)."""
    return jsonify(call("partners", "list_partners", wire(PartnerListArgs, args)))


@blp.post("/partners")
@blp.arguments(PartnerCreate)
@blp.response(201, PartnerOut)
@document_errors(blp, 401, 403, 409, 422)
@idempotent(blp, "partners.create_partner")
@requires("partner.manage", hq=True)
def create_partner(data: dict) -> ResponseReturnValue:
    """Create a partner with its territory."""
    return jsonify(call("partners", "create_partner", wire(PartnerCreate, data))), 201


@blp.get("/partners/<int:partner_id>")
@blp.response(200, PartnerOut)
@document_errors(blp, 401, 404)
@authenticated
def get_partner(partner_id: int) -> ResponseReturnValue:
    return jsonify(call("partners", "get_partner", partner_id))


@blp.patch("/partners/<int:partner_id>")
@blp.arguments(PartnerUpdate)
@blp.response(200, PartnerOut)
@document_errors(blp, 401, 403, 404, 409, 422)
@requires("partner.manage", hq=True)
def update_partner(data: dict, partner_id: int) -> ResponseReturnValue:
    return jsonify(call("partners", "update_partner", partner_id, wire(PartnerUpdate, data)))


def _status_action(action: str, doc: str) -> Callable[[int], ResponseReturnValue]:
    @blp.post(f"/partners/<int:partner_id>/{action}", endpoint=f"{action}_partner")
    @blp.response(200, PartnerOut)
    @document_errors(blp, 401, 403, 404, 409)
    @idempotent(blp, f"partners.{action}_partner")
    @requires("partner.manage", hq=True)
    def view(partner_id: int) -> ResponseReturnValue:
        return jsonify(call("partners", f"{action}_partner", partner_id))

    view.__doc__ = doc
    return view


_status_action("suspend", "Suspend a partner: its users are locked out at once.")
_status_action("activate", "Activate a suspended partner again.")


@blp.post("/partners/<int:partner_id>/terminate", endpoint="terminate_partner")
@blp.arguments(TerminateIn, required=False)
@blp.response(200, PartnerOut)
@document_errors(blp, 401, 403, 404, 409, 422)
@idempotent(blp, "partners.terminate_partner")
@requires("partner.manage", hq=True)
def terminate_partner(data: dict, partner_id: int) -> ResponseReturnValue:
    """End the partnership for good: its users are locked out, and what it holds is handed
    over. Its pending filings are rejected, its protected customers released to the pool
    (``customers: release``, the default) or transferred to ``to_partner_id``
    (``transfer``: those whose region that partner covers; the rest go to the pool), its
    open leads passed to the next covering partner or the HQ queue, its unapproved orders
    cancelled; approved orders, commission and history stay. ``reason`` is kept with each
    change. An empty body (or none) is a release with a default reason. 409 when the
    partner is terminated already; 422 ``invalid_receiver`` for a receiver that is the
    partner itself or not active."""
    payload = wire(TerminateIn, data)
    return jsonify(call("partners", "terminate_partner", partner_id, payload))


@blp.get("/partners/<int:partner_id>/handover")
@blp.response(200, HandoverOut)
@document_errors(blp, 401, 403, 404)
@requires("partner.manage", hq=True)
def partner_handover(partner_id: int) -> ResponseReturnValue:
    """What a partner holds, before suspending or terminating it (and what is left after):
    protected customers, pending filings, open leads, draft, submitted and rejected orders,
    and its commission on no paid statement (which stays). Each service counts its own
    (``handover_counts``), once partners has said the partner is the caller's to see."""
    partner = call("partners", "get_partner", partner_id)
    counts = {"partner_id": partner["id"], "status": partner["status"]}
    for service in ("filing", "orders", "commission"):
        counts |= call(service, "handover_counts", partner_id)
    return jsonify(counts)


@blp.put("/partners/<int:partner_id>/territory")
@blp.arguments(TerritoryIn)
@blp.response(200, PartnerOut)
@document_errors(blp, 401, 403, 404, 409, 422)
@requires("partner.manage", hq=True)
def set_territory(data: dict, partner_id: int) -> ResponseReturnValue:
    """Replace the partner's territory (region codes)."""
    return jsonify(call("partners", "set_territory", partner_id, wire(TerritoryIn, data)))


@blp.get("/partner-types")
@blp.response(200, PartnerTypeOut(many=True))
@document_errors(blp, 401)
@authenticated
def list_partner_types() -> ResponseReturnValue:
    return jsonify(call("partners", "list_partner_types"))


@blp.put("/partner-types/<string:code>")
@blp.arguments(PartnerTypeUpdate)
@blp.response(200, PartnerTypeOut)
@document_errors(blp, 401, 403, 404, 422)
@requires("partner.manage", hq=True)
def update_partner_type(data: dict, code: str) -> ResponseReturnValue:
    """Change a type's name, protection days, claim hours, idle release days (null: off)
    or reclaim cooldown."""
    return jsonify(call("partners", "update_partner_type", code, wire(PartnerTypeUpdate, data)))


@blp.get("/partner-grades")
@blp.response(200, PartnerGradeOut(many=True))
@document_errors(blp, 401)
@authenticated
def list_partner_grades() -> ResponseReturnValue:
    """The partner grades (等级), the heaviest lead weight first."""
    return jsonify(call("partners", "list_partner_grades"))


@blp.put("/partner-grades")
@blp.arguments(PartnerGradesIn)
@blp.response(200, PartnerGradeOut(many=True))
@document_errors(blp, 401, 403, 409, 422)
@requires("partner.manage", hq=True)
def set_partner_grades(data: dict) -> ResponseReturnValue:
    """Replace the grades with the list given: each is created or changed by its code, the
    ones left out are removed (409 ``grade_in_use`` while a partner has one)."""
    return jsonify(call("partners", "set_partner_grades", wire(PartnerGradesIn, data)))


@blp.get("/regions")
@blp.arguments(RegionListArgs, location="query")
@blp.response(200, RegionOut(many=True))
@document_errors(blp, 401, 404, 422)
@authenticated
def list_regions(args: dict) -> ResponseReturnValue:
    """Provinces, or the children of ``parent``."""
    return jsonify(call("partners", "list_regions", wire(RegionListArgs, args)))


@blp.get("/regions/resolve")
@blp.arguments(ResolveArgs, location="query")
@blp.response(200, ResolvedOut)
@document_errors(blp, 401, 422)
@authenticated
def resolve_region(args: dict) -> ResponseReturnValue:
    """The province, city and district named in a free-text address."""
    return jsonify(call("partners", "resolve_address", wire(ResolveArgs, args)))
