"""Customer filing (报备) and HQ leads (filing service)."""

from __future__ import annotations

import time
import uuid

from flask import g, jsonify, request, url_for
from flask.typing import ResponseReturnValue
from flask_smorest.fields import Upload
from marshmallow import Schema, fields, validate

from gateway.api.common import Blueprint, document_errors, idempotent, page_schema, wire
from gateway.context import authenticated, call, requires
from gateway.sheets import read_rows
from services.common.schemas import DecisionIn, RejectIn
from services.filing.schemas import (
    DONE,
    IMPORT_CHUNK_ROWS,
    QUEUED,
    RECEIVING,
    RUNNING,
    CheckOut,
    CustomerCheckIn,
    CustomerFileIn,
    CustomerListArgs,
    CustomerOut,
    DeclineIn,
    ExtensionIn,
    ExtensionListArgs,
    ExtensionOut,
    FilingListArgs,
    FilingOut,
    FollowUpIn,
    FollowUpListArgs,
    FollowUpOut,
    LeadAssignIn,
    LeadImportJobOut,
    LeadImportListArgs,
    LeadImportOut,
    LeadIn,
    LeadListArgs,
    LeadOut,
    PoolCustomerOut,
    PoolListArgs,
    ReleaseIn,
    RevealIn,
    RevealOut,
    TransferIn,
)

blp = Blueprint("filing", __name__, url_prefix="/api/v1", description="Customers, filings, leads")

#: 100,000 rows of a spreadsheet of leads fit.
IMPORT_MAX_BYTES = 64 * 1024 * 1024
#: Seconds an import request waits for its import to finish before it answers 202: within
#: gunicorn's 30 s with the reading of the file and the handing of its rows.
IMPORT_WAIT = 4.0
IMPORT_POLL = 0.1
#: Seconds for one call handing a part of the rows to the filing service.
IMPORT_CALL_TIMEOUT = 20.0


class ImportFile(Schema):
    file = Upload(required=True)


class ImportWait(Schema):
    wait = fields.Float(
        load_default=IMPORT_WAIT,
        validate=validate.Range(min=0, max=IMPORT_WAIT),
        metadata={"description": "seconds to wait for the import to finish before 202"},
    )


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


@blp.post("/customers/<int:customer_id>/release")
@blp.arguments(ReleaseIn)
@blp.response(200, CustomerOut)
@document_errors(blp, 401, 403, 404, 409, 422)
@idempotent(blp, "filing.release_customer")
@requires("customer.create")
def release_customer(data: dict, customer_id: int) -> ResponseReturnValue:
    """Give a protected customer of yours back to the public pool (公海), with a reason of
    1 to 500 characters. Partners covering its region may claim it; you may claim it again
    only after your type's ``reclaim_cooldown_days``."""
    return jsonify(call("filing", "release_customer", customer_id, wire(ReleaseIn, data)))


@blp.get("/pool")
@blp.arguments(PoolListArgs, location="query")
@blp.response(200, page_schema(PoolCustomerOut))
@document_errors(blp, 401, 403, 422)
@authenticated
def list_pool(args: dict) -> ResponseReturnValue:
    """The public pool (公海), most recently released first: a partner with ``pool.claim``
    sees the released customers its territory covers, HQ all of them (and who held each
    last); contact data masked. Filters: ``region_code`` (a province or city covers its
    parts), ``q`` (a part of the name), ``industry``."""
    return jsonify(call("filing", "list_pool", wire(PoolListArgs, args)))


@blp.post("/pool/<int:customer_id>/claim")
@blp.response(200, CustomerOut)
@document_errors(blp, 401, 403, 404, 409)
@idempotent(blp, "filing.claim_pool_customer")
@requires("pool.claim")
def claim_pool_customer(customer_id: int) -> ResponseReturnValue:
    """Claim a customer of the pool in your territory: it is yours, protected at once for
    your protection days, source ``partner``. 409 ``already_claimed`` (another partner was
    first), ``claim_limit_reached`` (you hold your grade's maximum of protected and pending
    customers), ``cooldown`` (you released it too recently); 404 outside your territory."""
    return jsonify(call("filing", "claim_pool_customer", customer_id))


@blp.get("/customers/<int:customer_id>/follow-ups")
@blp.arguments(FollowUpListArgs, location="query")
@blp.response(200, page_schema(FollowUpOut))
@document_errors(blp, 401, 404, 422)
@authenticated
def list_follow_ups(args: dict, customer_id: int) -> ResponseReturnValue:
    """A customer's follow-ups (跟进记录), newest first: the partner holding it sees its
    own, HQ all."""
    return jsonify(call("filing", "list_follow_ups", customer_id, wire(FollowUpListArgs, args)))


@blp.post("/customers/<int:customer_id>/follow-ups")
@blp.arguments(FollowUpIn)
@blp.response(201, FollowUpOut)
@document_errors(blp, 401, 403, 404, 409, 422)
@idempotent(blp, "filing.add_follow_up")
@requires("customer.create")
def add_follow_up(data: dict, customer_id: int) -> ResponseReturnValue:
    """Record a visit, call, message or other follow-up of a customer you hold (body 1 to
    2,000 characters, ``next_at`` the next contact planned); it keeps the customer from
    idle release for your type's ``idle_release_days``."""
    return jsonify(call("filing", "add_follow_up", customer_id, wire(FollowUpIn, data))), 201


@blp.post("/customers/<int:customer_id>/extensions")
@blp.arguments(ExtensionIn)
@blp.response(201, ExtensionOut)
@document_errors(blp, 401, 403, 404, 409, 422)
@idempotent(blp, "filing.request_extension")
@requires("customer.create")
def request_extension(data: dict, customer_id: int) -> ResponseReturnValue:
    """Ask for more days (延期, 1 to 365) on a customer you hold, with a reason of 1 to 500
    characters; the ``extension`` approval flow decides, and once approved the protection
    ends ``days`` later than it did. 409 ``customer_not_protected``, ``extension_pending``
    (one waits already), ``extension_limit_reached`` (two approved or pending in this
    protection period)."""
    answer = call("filing", "request_extension", customer_id, wire(ExtensionIn, data))
    return jsonify(answer), 201


@blp.get("/extensions")
@blp.arguments(ExtensionListArgs, location="query")
@blp.response(200, page_schema(ExtensionOut))
@document_errors(blp, 401, 422)
@authenticated
def list_extensions(args: dict) -> ResponseReturnValue:
    """Extensions, newest first: a partner's own (and its sub-partners' where its role
    says so), HQ all. Filters ``status`` (``pending`` for the approvers' queue),
    ``customer_id``, ``partner_id``."""
    return jsonify(call("filing", "list_extensions", wire(ExtensionListArgs, args)))


@blp.get("/extensions/<int:extension_id>")
@blp.response(200, ExtensionOut)
@document_errors(blp, 401, 404)
@authenticated
def get_extension(extension_id: int) -> ResponseReturnValue:
    return jsonify(call("filing", "get_extension", extension_id))


@blp.post("/extensions/<int:extension_id>/approve")
@blp.arguments(DecisionIn)
@blp.response(200, ExtensionOut)
@document_errors(blp, 401, 403, 404, 409, 422)
@idempotent(blp, "filing.approve_extension")
@requires(hq=True)
def approve_extension(data: dict, extension_id: int) -> ResponseReturnValue:
    """Approve the current step (needs the step's permission; 403 ``same_approver`` as for
    filings). The last step moves the customer's protection by the extension's days; 409
    ``customer_not_protected`` when the customer was released or its protection ended."""
    return jsonify(call("filing", "approve_extension", extension_id, wire(DecisionIn, data)))


@blp.post("/extensions/<int:extension_id>/reject")
@blp.arguments(RejectIn)
@blp.response(200, ExtensionOut)
@document_errors(blp, 401, 403, 404, 409, 422)
@idempotent(blp, "filing.reject_extension")
@requires(hq=True)
def reject_extension(data: dict, extension_id: int) -> ResponseReturnValue:
    """Reject with a comment (required); the protection is unchanged."""
    return jsonify(call("filing", "reject_extension", extension_id, wire(RejectIn, data)))


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
@blp.arguments(ImportWait, location="query")
@blp.response(200, LeadImportOut)
@blp.alt_response(202, schema=LeadImportJobOut, description="Still running: follow Location")
@document_errors(blp, 401, 403, 409, 413, 422)
@idempotent(blp, "filing.start_lead_import")
@requires("lead.create", hq=True)
def import_leads(files: dict, query: dict) -> ResponseReturnValue:
    """Import leads from a CSV or XLSX file (columns name, contact_name, phone, region_code,
    address, notes, or their Chinese headers), up to 100,000 rows; invalid rows are listed
    by row number. The import is a job: its id is the request's ``Idempotency-Key`` (or one
    given here), and the same id again answers the same import. An import done within a
    few seconds answers its summary; a longer one 202 with the job and its ``Location``
    (``GET /api/v1/leads/imports/{id}``). The same rows are imported once: sending them
    again under another id (the same file uploaded twice) answers 409 and creates nothing."""
    job_id = g.get("idempotency_key") or uuid.uuid4().hex
    rows = read_rows(files["file"])
    job = _send_rows(job_id, rows)
    waited_until = time.monotonic() + query["wait"]
    while job["status"] in (QUEUED, RUNNING) and time.monotonic() < waited_until:
        time.sleep(IMPORT_POLL)
        job = call("filing", "get_lead_import", job_id)
    if job["status"] == DONE:
        return jsonify(LeadImportOut().dump(job))
    location = url_for("filing.get_lead_import", job_id=job_id)
    return jsonify(job), 202, {"Location": location}


def _send_rows(job_id: str, rows: list[dict]) -> dict:
    """Hand the rows to the filing service in parts of ``IMPORT_CHUNK_ROWS``, each call
    with its own timeout; the import as the last call answers it."""
    total = len(rows)
    for offset in range(0, max(total, 1), IMPORT_CHUNK_ROWS):
        part = rows[offset : offset + IMPORT_CHUNK_ROWS]
        last = offset + IMPORT_CHUNK_ROWS >= total
        payload = {"id": job_id, "rows": part, "offset": offset, "total": total, "last": last}
        method = "add_lead_import_rows" if offset else "start_lead_import"
        job = call("filing", method, payload, timeout=IMPORT_CALL_TIMEOUT)
        if job["status"] != RECEIVING:
            return job  # the same id again: this import has all its rows
    return job


@blp.get("/leads/imports")
@blp.arguments(LeadImportListArgs, location="query")
@blp.response(200, page_schema(LeadImportJobOut))
@document_errors(blp, 401, 403, 422)
@requires("lead.create", hq=True)
def list_lead_imports(args: dict) -> ResponseReturnValue:
    """The lead imports, the most recent first (without their row errors)."""
    return jsonify(call("filing", "list_lead_imports", wire(LeadImportListArgs, args)))


@blp.get("/leads/imports/<path:job_id>")
@blp.response(200, LeadImportJobOut)
@document_errors(blp, 401, 403, 404)
@requires("lead.create", hq=True)
def get_lead_import(job_id: str) -> ResponseReturnValue:
    """An import and how far it has come: rows received and done, leads created and
    assigned, rows refused (the first 1,000 with their row numbers and problems)."""
    return jsonify(call("filing", "get_lead_import", job_id))


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


@blp.post("/leads/<int:lead_id>/assign")
@blp.arguments(LeadAssignIn)
@blp.response(200, LeadOut)
@document_errors(blp, 401, 403, 404, 409, 422)
@idempotent(blp, "filing.assign_lead")
@requires("lead.assign", hq=True)
def assign_lead(data: dict, lead_id: int) -> ResponseReturnValue:
    """Hand an unclaimed lead (in the HQ queue, or held by a partner) to an active partner
    covering its region, with an optional reason: it has its claim hours from now and is
    told who assigned it and why. 422 ``region_not_in_territory`` (the partner does not
    cover the region), 409 ``partner_not_active`` (suspended or terminated), 409
    ``already_claimed``."""
    return jsonify(call("filing", "assign_lead", lead_id, wire(LeadAssignIn, data)))


@blp.post("/leads/<int:lead_id>/decline")
@blp.arguments(DeclineIn)
@blp.response(200, LeadOut)
@document_errors(blp, 401, 403, 404, 409, 422)
@idempotent(blp, "filing.decline_lead")
@requires("lead.claim")
def decline_lead(data: dict, lead_id: int) -> ResponseReturnValue:
    """Decline with a reason: the lead goes to the next partner or back to HQ."""
    return jsonify(call("filing", "decline_lead", lead_id, wire(DeclineIn, data)))
