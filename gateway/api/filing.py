"""Customer filing (报备) and HQ leads (filing service)."""

from __future__ import annotations

from flask import jsonify, request
from flask.typing import ResponseReturnValue
from flask_smorest.fields import Upload
from marshmallow import Schema

from gateway.api.common import Blueprint, document_errors, idempotent, page_schema, wire
from gateway.context import authenticated, call, requires
from gateway.sheets import read_rows
from services.common.schemas import DecisionIn, RejectIn
from services.filing.schemas import (
    CheckOut,
    CustomerCheckIn,
    CustomerFileIn,
    CustomerListArgs,
    CustomerOut,
    DeclineIn,
    FilingListArgs,
    FilingOut,
    LeadImportOut,
    LeadIn,
    LeadListArgs,
    LeadOut,
    RevealIn,
    RevealOut,
    TransferIn,
)

blp = Blueprint("filing", __name__, url_prefix="/api/v1", description="Customers, filings, leads")

IMPORT_MAX_BYTES = 16 * 1024 * 1024


class ImportFile(Schema):
    file = Upload(required=True)


@blp.before_request
def _larger_uploads_for_imports() -> None:
    if request.endpoint == "filing.import_leads":
        request.max_content_length = IMPORT_MAX_BYTES


@blp.post("/customers/check")
@blp.arguments(CustomerCheckIn)
@blp.response(200, CheckOut)
@document_errors(blp, 401, 403, 422)
@requires("customer.create")
def check_customer(data: dict) -> ResponseReturnValue:
    """Would filing this customer conflict? Answers yes or no, never who holds it."""
    return jsonify(call("filing", "check_customer", wire(CustomerCheckIn, data)))


@blp.post("/customers")
@blp.arguments(CustomerFileIn)
@blp.response(201, CustomerOut)
@document_errors(blp, 401, 403, 409, 422)
@idempotent(blp, "filing.file_customer")
@requires("customer.create")
def file_customer(data: dict) -> ResponseReturnValue:
    """File a customer in your territory: pending until approved, and already protected
    from others' filings (409 filing_conflict; 422 region_not_in_territory)."""
    return jsonify(call("filing", "file_customer", wire(CustomerFileIn, data))), 201


@blp.get("/customers")
@blp.arguments(CustomerListArgs, location="query")
@blp.response(200, page_schema(CustomerOut))
@document_errors(blp, 401, 422)
@authenticated
def list_customers(args: dict) -> ResponseReturnValue:
    return jsonify(call("filing", "list_customers", wire(CustomerListArgs, args)))


@blp.get("/customers/<int:customer_id>")
@blp.response(200, CustomerOut)
@document_errors(blp, 401, 404)
@authenticated
def get_customer(customer_id: int) -> ResponseReturnValue:
    return jsonify(call("filing", "get_customer", customer_id))


@blp.post("/customers/<int:customer_id>/transfer")
@blp.arguments(TransferIn)
@blp.response(200, CustomerOut)
@document_errors(blp, 401, 403, 404, 409, 422)
@idempotent(blp, "filing.transfer_customer")
@requires("customer.transfer", hq=True)
def transfer_customer(data: dict, customer_id: int) -> ResponseReturnValue:
    """Move a protected customer to another partner covering its region (audited)."""
    return jsonify(call("filing", "transfer_customer", customer_id, wire(TransferIn, data)))


@blp.post("/customers/<int:customer_id>/reveal")
@blp.arguments(RevealIn)
@blp.response(200, RevealOut)
@document_errors(blp, 401, 403, 404, 422)
@requires("customer.pii.reveal")
def reveal_customer(data: dict, customer_id: int) -> ResponseReturnValue:
    """The unmasked contact data (name, phone, street address) of one customer the caller
    sees, for a reason of 2 to 200 characters; audited (``pii_revealed``, with the reason).
    Another partner's customer is 404."""
    return jsonify(call("filing", "reveal_customer", customer_id, wire(RevealIn, data)))


@blp.get("/filings")
@blp.arguments(FilingListArgs, location="query")
@blp.response(200, page_schema(FilingOut))
@document_errors(blp, 401, 422)
@authenticated
def list_filings(args: dict) -> ResponseReturnValue:
    return jsonify(call("filing", "list_filings", wire(FilingListArgs, args)))


@blp.get("/filings/<int:filing_id>")
@blp.response(200, FilingOut)
@document_errors(blp, 401, 404)
@authenticated
def get_filing(filing_id: int) -> ResponseReturnValue:
    return jsonify(call("filing", "get_filing", filing_id))


@blp.post("/filings/<int:filing_id>/approve")
@blp.arguments(DecisionIn)
@blp.response(200, FilingOut)
@document_errors(blp, 401, 403, 404, 409, 422)
@idempotent(blp, "filing.approve_filing")
@requires(hq=True)
def approve_filing(data: dict, filing_id: int) -> ResponseReturnValue:
    """Approve the current step (needs the step's permission; 403 ``same_approver`` to
    whoever submitted the filing or decided another of its steps)."""
    return jsonify(call("filing", "approve_filing", filing_id, wire(DecisionIn, data)))


@blp.post("/filings/<int:filing_id>/reject")
@blp.arguments(RejectIn)
@blp.response(200, FilingOut)
@document_errors(blp, 401, 403, 404, 409, 422)
@idempotent(blp, "filing.reject_filing")
@requires(hq=True)
def reject_filing(data: dict, filing_id: int) -> ResponseReturnValue:
    """Reject with a comment (required; 403 ``same_approver`` to whoever submitted the
    filing or decided another of its steps)."""
    return jsonify(call("filing", "reject_filing", filing_id, wire(RejectIn, data)))


@blp.post("/leads")
@blp.arguments(LeadIn)
@blp.response(201, LeadOut)
@document_errors(blp, 401, 403, 422)
@idempotent(blp, "filing.create_lead")
@requires("lead.create", hq=True)
def create_lead(data: dict) -> ResponseReturnValue:
    """Enter a lead; it goes at once to the partner of its region (or stays unassigned)."""
    return jsonify(call("filing", "create_lead", wire(LeadIn, data))), 201


@blp.post("/leads/import")
@blp.arguments(ImportFile, location="files")
@blp.response(200, LeadImportOut)
@document_errors(blp, 401, 403, 409, 413, 422)
@idempotent(blp, "filing.import_leads")
@requires("lead.create", hq=True)
def import_leads(files: dict) -> ResponseReturnValue:
    """Import leads from a CSV or XLSX file (columns name, contact_name, phone, region_code,
    address, notes, or their Chinese headers); invalid rows are listed by row number.
    The same rows are imported once: sending them again (a retry after a timeout, the
    same file uploaded twice) answers 409 and creates nothing."""
    rows = read_rows(files["file"])
    return jsonify(call("filing", "import_leads", {"rows": rows}, timeout=600))


@blp.get("/leads")
@blp.arguments(LeadListArgs, location="query")
@blp.response(200, page_schema(LeadOut))
@document_errors(blp, 401, 422)
@authenticated
def list_leads(args: dict) -> ResponseReturnValue:
    """HQ: every lead; partners: the leads assigned to them."""
    return jsonify(call("filing", "list_leads", wire(LeadListArgs, args)))


@blp.get("/leads/<int:lead_id>")
@blp.response(200, LeadOut)
@document_errors(blp, 401, 404)
@authenticated
def get_lead(lead_id: int) -> ResponseReturnValue:
    return jsonify(call("filing", "get_lead", lead_id))


@blp.post("/leads/<int:lead_id>/claim")
@blp.response(200, CustomerOut)
@document_errors(blp, 401, 403, 404, 409)
@idempotent(blp, "filing.claim_lead")
@requires("lead.claim")
def claim_lead(lead_id: int) -> ResponseReturnValue:
    """Claim the lead: its customer becomes yours, protected, with source hq."""
    return jsonify(call("filing", "claim_lead", lead_id))


@blp.post("/leads/<int:lead_id>/decline")
@blp.arguments(DeclineIn)
@blp.response(200, LeadOut)
@document_errors(blp, 401, 403, 404, 409, 422)
@idempotent(blp, "filing.decline_lead")
@requires("lead.claim")
def decline_lead(data: dict, lead_id: int) -> ResponseReturnValue:
    """Decline with a reason: the lead goes to the next partner or back to HQ."""
    return jsonify(call("filing", "decline_lead", lead_id, wire(DeclineIn, data)))
