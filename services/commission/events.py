"""The events the commission service produces (through its outbox), one schema per kind.

Amounts travel as strings with two places (``"1234.50"``, negative for a reversal), rates
as decimal strings (``"0.05"``), periods as ``YYYY-MM``.

``commission_entry_created``
    An entry was written: the commission of an approved order (``kind`` ``commission``)
    or the reversal of a cancelled one (``reversal``, negative amounts); on basis
    collection, of a receipt (``commission``) or a refund (``reversal``), which
    ``payment_id`` names (absent otherwise; the contract amount is then the payment's).
``statement_issued``, ``statement_confirmed``
    HQ issued a partner's statement of a period; the partner confirmed it.
``statement_paid``
    HQ paid a confirmed statement; carries the payment's reference too.
"""

from __future__ import annotations

from marshmallow import Schema, fields

from services.common.events import EventSchema
from services.common.schemas import Id, Money, Rate

ENTRY_CREATED = "commission_entry_created"
STATEMENT_ISSUED = "statement_issued"
STATEMENT_CONFIRMED = "statement_confirmed"
STATEMENT_PAID = "statement_paid"


class EntryCreated(EventSchema):
    entry_id = Id(strict=True, required=True)
    order_id = Id(strict=True, required=True)
    partner_id = Id(strict=True, required=True)
    contract_no = fields.String(required=True)
    source = fields.String(required=True)
    contract_amount = Money(signed=True, required=True)
    rate = Rate(required=True)
    amount = Money(signed=True, required=True)
    period = fields.String(required=True)
    kind = fields.String(required=True)
    payment_id = Id(strict=True, allow_none=True, load_default=None)


class StatementIssued(EventSchema):
    statement_id = Id(strict=True, required=True)
    partner_id = Id(strict=True, required=True)
    period = fields.String(required=True)
    total_amount = Money(signed=True, required=True)
    entry_count = fields.Integer(required=True)


class StatementConfirmed(StatementIssued):
    pass


class StatementPaid(StatementIssued):
    payment_ref = fields.String(required=True)


EVENTS: dict[str, type[Schema]] = {
    ENTRY_CREATED: EntryCreated,
    STATEMENT_ISSUED: StatementIssued,
    STATEMENT_CONFIRMED: StatementConfirmed,
    STATEMENT_PAID: StatementPaid,
}
