"""Wire payloads: marshmallow schemas that refuse unknown fields, and one way to page."""

from __future__ import annotations

from typing import Any

from marshmallow import RAISE, Schema, ValidationError, fields, validate
from sqlalchemy import Select, func, select
from sqlalchemy.orm import Session

from services.common.errors import InvalidInput, NotFound

MAX_PER_PAGE = 100
MAX_PAGE = 100_000
MAX_ID = 2**63 - 1  # BIGINT: the largest id a row can have


class WireSchema(Schema):
    """Base of every payload schema: unknown fields are an error, never ignored."""

    class Meta:
        unknown = RAISE


def load(schema: Schema | type[Schema], data: Any, **kwargs: Any) -> Any:
    """Validate ``data`` with ``schema``; InvalidInput with per-field errors if it fails."""
    instance = schema() if isinstance(schema, type) else schema
    if data is None:
        data = {}
    try:
        return instance.load(data, **kwargs)
    except ValidationError as exc:
        messages = exc.messages if isinstance(exc.messages, dict) else {"_schema": exc.messages}
        raise InvalidInput("the request is not valid", errors=messages) from exc


class PageArgs(WireSchema):
    page = fields.Integer(load_default=1, validate=validate.Range(min=1, max=MAX_PAGE))
    per_page = fields.Integer(load_default=20, validate=validate.Range(min=1, max=MAX_PER_PAGE))


def page_of(session: Session, stmt: Select, page: int, per_page: int, dump: Any) -> dict:
    """One page of ``stmt`` as ``{items, total, page, per_page}``; ``dump`` maps a row."""
    total = session.scalar(select(func.count()).select_from(stmt.order_by(None).subquery()))
    rows = session.scalars(stmt.limit(per_page).offset((page - 1) * per_page)).all()
    return {
        "items": [dump(row) for row in rows],
        "total": total or 0,
        "page": page,
        "per_page": per_page,
    }


class Problem(Schema):
    """RFC 7807 problem document (documentation of error responses)."""

    type = fields.String()
    title = fields.String()
    status = fields.Integer()
    code = fields.String()
    detail = fields.String()
    errors = fields.Dict()
    request_id = fields.String()


class UtcDateTime(fields.DateTime):
    """ISO 8601 in UTC with a ``Z`` on the wire."""

    def _serialize(self, value: Any, attr: Any, obj: Any, **kwargs: Any) -> str | None:
        from services.common.timeutil import iso

        return iso(value)


def _region_code(value: str) -> None:
    from services.common.regions import is_region_code

    if not is_region_code(value):
        raise ValidationError("a region code is 6 digits (GB/T 2260), e.g. 330106")


class RegionCode(fields.String):
    """A 6-digit GB/T 2260 region code."""

    def __init__(self, **kwargs: Any) -> None:
        kwargs.setdefault("validate", _region_code)
        super().__init__(**kwargs)


def load_id(value: Any, name: str = "id") -> int:
    """A positive integer id, or InvalidInput; one beyond BIGINT cannot exist: NotFound."""
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise InvalidInput("the request is not valid", errors={name: ["not a valid id"]})
    if value > MAX_ID:
        raise NotFound(f"{name} {value} not found")
    return value


def _distinct_step_names(steps: list[dict]) -> None:
    names = [step["name"] for step in steps]
    if len(set(names)) != len(names):
        raise ValidationError("step names are unique")


class FlowStepIn(WireSchema):
    """One step of an approval flow; the owning service checks the condition's fields."""

    name = fields.String(required=True, validate=validate.Length(min=1, max=60))
    permission = fields.String(required=True, validate=validate.Length(min=1, max=60))
    mode = fields.String(load_default="any", validate=validate.OneOf(("any", "all")))
    approvers = fields.List(
        fields.Integer(strict=True), load_default=list, validate=validate.Length(max=50)
    )
    condition = fields.Dict(load_default=None, allow_none=True)


class FlowIn(WireSchema):
    steps = fields.List(
        fields.Nested(FlowStepIn),
        required=True,
        validate=validate.And(validate.Length(min=1, max=20), _distinct_step_names),
    )


class FlowOut(WireSchema):
    kind = fields.String()
    steps = fields.List(fields.Dict())
