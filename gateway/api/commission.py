"""Commission: rates, entries, the commission report and statements (commission service)."""

from __future__ import annotations

from flask import jsonify
from flask.typing import ResponseReturnValue

from gateway.api.common import (
    Blueprint,
    document_errors,
    document_files,
    file_response,
    idempotent,
    page_schema,
    wire,
)
from gateway.context import authenticated, call, requires
from services.commission.schemas import (
    EntryListArgs,
    EntryOut,
    PayIn,
    RateIn,
    RateInForceArgs,
    RateInForceOut,
    RateListArgs,
    RateOut,
    ReportArgs,
    ReportOut,
    ReportQuery,
    StatementIn,
    StatementListArgs,
    StatementOut,
)

blp = Blueprint(
    "commission", __name__, url_prefix="/api/v1", description="Commission rates and statements"
)

# -- rates ------------------------------------------------------------------------------


@blp.get("/commission/rates")
@blp.arguments(RateListArgs, location="query")
@blp.response(200, page_schema(RateOut))
@document_errors(blp, 401, 403, 422)
@requires("commission.manage", hq=True)
def list_rates(args: dict) -> ResponseReturnValue:
    """Rate rules: per partner type, and per-partner overrides, each from a date on."""
    return jsonify(call("commission", "list_rates", wire(RateListArgs, args)))


@blp.put("/commission/rates")
@blp.arguments(RateIn)
@blp.response(200, RateOut)
@document_errors(blp, 401, 403, 422)
@requires("commission.manage", hq=True)
def put_rate(data: dict) -> ResponseReturnValue:
    """Set the rates of a partner type (``partner_type``) or of one partner
    (``partner_id``, an override) from ``effective_from`` (today by default): rates are
    decimal strings between 0 and 1. ``basis`` is ``approval`` (default: the whole
    commission when the order is approved) or ``collection`` (accrued with each receipt at
    the rate fixed when the order is approved; a refund reverses its share). A rule of the
    same scope and date is replaced; commission entries already written keep their rate."""
    return jsonify(call("commission", "put_rate", wire(RateIn, data)))


@blp.get("/commission/rates/in-force")
@blp.arguments(RateInForceArgs, location="query")
@blp.response(200, RateInForceOut)
@document_errors(blp, 401, 403, 404, 409, 422)
@requires("commission.manage", hq=True)
def rate_in_force(args: dict) -> ResponseReturnValue:
    """The rates that apply to a partner on a day (``on``, today by default), and whether
    they come from its override or its partner type."""
    return jsonify(call("commission", "rate_in_force", wire(RateInForceArgs, args)))


# -- entries ----------------------------------------------------------------------------


@blp.get("/commissions")
@blp.arguments(EntryListArgs, location="query")
@blp.response(200, page_schema(EntryOut))
@document_errors(blp, 401, 422)
@authenticated
def list_entries(args: dict) -> ResponseReturnValue:
    """Commission entries in the caller's scope: one ``commission`` per approved order and a
    ``reversal`` (negative) per cancelled one; on basis ``collection`` a ``commission`` per
    receipt and a ``reversal`` per refund, which ``payment_id`` names (its
    ``contract_amount`` is the payment's); ``statement_id`` once settled."""
    return jsonify(call("commission", "list_entries", wire(EntryListArgs, args)))


@blp.get("/commissions/<int:entry_id>")
@blp.response(200, EntryOut)
@document_errors(blp, 401, 404)
@authenticated
def get_entry(entry_id: int) -> ResponseReturnValue:
    return jsonify(call("commission", "get_entry", entry_id))


# -- report -----------------------------------------------------------------------------


@blp.get("/reports/commissions")
@blp.arguments(ReportQuery, location="query")
@blp.response(200, ReportOut)
@document_files(blp)
@document_errors(blp, 401, 403, 422)
@requires("report.read")
def commission_report(args: dict) -> ResponseReturnValue:
    """Contract and commission amounts and entry counts by ``group_by`` (any of partner,
    period, source; default partner,period) over the periods ``from``..``to``, with totals.
    ``format=csv`` or ``xlsx`` answers a file with Chinese headers. Partners see their own
    rows only."""
    query = dict(args)
    file_format = query.pop("format")
    if file_format == "json":
        return jsonify(call("commission", "commission_report", wire(ReportArgs, query)))
    query = wire(ReportArgs, query) | {"format": file_format}
    return file_response(call("commission", "export_commission_report", query))


# -- statements -------------------------------------------------------------------------


@blp.get("/commission/statements")
@blp.arguments(StatementListArgs, location="query")
@blp.response(200, page_schema(StatementOut))
@document_errors(blp, 401, 422)
@authenticated
def list_statements(args: dict) -> ResponseReturnValue:
    """Statements in the caller's scope (HQ: all; a partner: its own)."""
    return jsonify(call("commission", "list_statements", wire(StatementListArgs, args)))


@blp.post("/commission/statements")
@blp.arguments(StatementIn)
@blp.response(201, StatementOut)
@document_errors(blp, 401, 403, 409, 422)
@idempotent(blp, "commission.issue_statement")
@requires("commission.manage", hq=True)
def issue_statement(data: dict) -> ResponseReturnValue:
    """Issue a statement of a partner's entries of an ended period (``YYYY-MM``) that are
    on no statement yet; they are locked onto it. 409 ``nothing_to_settle`` when there are
    none; 422 ``period_not_ended`` for the current or a later month."""
    return jsonify(call("commission", "issue_statement", wire(StatementIn, data))), 201


@blp.get("/commission/statements/<int:statement_id>")
@blp.response(200, StatementOut)
@document_errors(blp, 401, 404)
@authenticated
def get_statement(statement_id: int) -> ResponseReturnValue:
    return jsonify(call("commission", "get_statement", statement_id))


@blp.post("/commission/statements/<int:statement_id>/confirm")
@blp.response(200, StatementOut)
@document_errors(blp, 401, 403, 404, 409)
@idempotent(blp, "commission.confirm_statement")
@requires("commission.confirm")
def confirm_statement(statement_id: int) -> ResponseReturnValue:
    """The partner confirms its issued statement (409 ``invalid_state`` otherwise)."""
    return jsonify(call("commission", "confirm_statement", statement_id))


@blp.post("/commission/statements/<int:statement_id>/pay")
@blp.arguments(PayIn)
@blp.response(200, StatementOut)
@document_errors(blp, 401, 403, 404, 409, 422)
@idempotent(blp, "commission.pay_statement")
@requires("commission.pay", hq=True)
def pay_statement(data: dict, statement_id: int) -> ResponseReturnValue:
    """HQ marks a confirmed statement paid, with the payment's reference (409
    ``invalid_state`` unless confirmed)."""
    return jsonify(call("commission", "pay_statement", statement_id, wire(PayIn, data)))
