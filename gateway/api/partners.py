"""Partners, their territories and types; the region dictionary (partners service)."""

from __future__ import annotations

from collections.abc import Callable

from flask import jsonify
from flask.typing import ResponseReturnValue

from gateway.api.common import Blueprint, document_errors, idempotent, page_schema, wire
from gateway.context import authenticated, call, requires
from services.partners.schemas import (
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
_status_action("terminate", "End the partnership for good: its users are locked out.")


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
