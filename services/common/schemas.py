"""Wire payloads: marshmallow schemas that refuse unknown fields, and one way to page."""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Mapping
from decimal import Decimal
from functools import cache
from typing import Any, TypeVar

import regex
from marshmallow import RAISE, Schema, ValidationError, fields, missing, pre_load, validate
from marshmallow.decorators import POST_DUMP, PRE_DUMP
from marshmallow.utils import ensure_text_type
from sqlalchemy import Select, func, select
from sqlalchemy.orm import Session

from services.common.errors import InvalidInput, NotFound
from services.common.money import MAX_MONEY, money, money_str, to_decimal

MAX_PER_PAGE = 100
MAX_PAGE = 100_000
MAX_ID = 2**63 - 1  # BIGINT: the largest id a row can have


UNSTORABLE_TEXT = "text may not contain NUL characters or unpaired surrogates"


def _unstorable(value: Any) -> bool:
    """Text no database column can hold: a NUL character (PostgreSQL refuses it), or an
    unpaired surrogate (JSON can carry one; it has no UTF-8 form). Looks inside lists and
    dicts, keys included."""
    if isinstance(value, str):
        if "\x00" in value:
            return True
        try:
            value.encode("utf-8")
        except UnicodeEncodeError:
            return True
        return False
    if isinstance(value, Mapping):
        return any(_unstorable(key) or _unstorable(item) for key, item in value.items())
    if isinstance(value, list | tuple):
        return any(_unstorable(item) for item in value)
    return False


class WireSchema(Schema):
    """Base of every payload schema: unknown fields are an error, never ignored; text that
    cannot be stored is invalid input, not a database error."""

    class Meta:
        unknown = RAISE

    @pre_load
    def _storable_text(self, data: Any, **kwargs: Any) -> Any:
        if isinstance(data, Mapping):  # a JSON object, or the query string's multidict
            errors = {
                str(key) if not _unstorable(key) else "_schema": [UNSTORABLE_TEXT]
                for key, value in data.items()
                if _unstorable(key) or _unstorable(value)
            }
            if errors:
                raise ValidationError(errors)
        return data


S = TypeVar("S", bound=Schema)


@cache
def shared(schema: type[S]) -> S:
    """The process's one instance of ``schema``, for every load and dump: making one copies
    each declared field, and its first use makes each nested schema, which together cost
    more than dumping a row (three per customer in a list of twenty was half the filing
    service's time). A schema instance keeps nothing of one call for the next."""
    return schema()


def dump(schema: type[Schema], data: Any) -> Any:
    """``data`` dumped as the shared instance of ``schema`` dumps it, by that schema's
    compiled dumper (``dumper``): every answer and event of a service is dumped here."""
    return dumper(shared(schema))(data)


#: A field's conversion of a value already read: (value, the object read from) -> wire.
_Convert = Callable[[Any, Any], Any]


@cache
def dumper(schema: Schema) -> Callable[[Any], Any]:
    """What ``schema.dump`` does, compiled once per schema instance: the same output for
    every input (``tests/unit/test_dumper.py`` compares the two over every schema of the
    services), in a fraction of the time. Marshmallow walks five calls deep per field
    and value (``serialize``, ``get_value``, the schema's accessor, ``utils.get_value``,
    ``_serialize``): a list of twenty customers with their filings was 120,000 calls and a
    third of the filing service's time.

    Each field's value is read as marshmallow reads it (a key, else an attribute; absent:
    the field's ``dump_default``, else left out) and converted by the field's own
    ``_serialize``, except for the plain kinds whose ``_serialize`` is marshmallow's own
    (text, integers, booleans and raw values, plain dicts, lists and nested schemas), which
    are converted inline. A schema with dump hooks or an accessor of its own, and a field
    that reads its value otherwise (``Method``, ``Function``, a dotted ``attribute``), are
    left to marshmallow."""
    own = type(schema)
    if schema._hooks[PRE_DUMP] or schema._hooks[POST_DUMP] or schema.dict_class is not dict:
        return schema.dump
    if (own.get_attribute, own.dump, own._serialize) != (
        Schema.get_attribute,
        Schema.dump,
        Schema._serialize,
    ):
        return schema.dump
    plan: list[tuple[str, str, str, _Convert | None, fields.Field]] = []
    for name, field in schema.dump_fields.items():
        key = field.data_key if field.data_key is not None else name
        attr = field.attribute if field.attribute is not None else name
        plain = (
            field._CHECK_ATTRIBUTE
            and "." not in attr
            and type(field).serialize is fields.Field.serialize
            and type(field).get_value is fields.Field.get_value
        )
        plan.append((key, name, attr, _converter(field, name) if plain else None, field))
    accessor = schema.get_attribute

    def dump_one(obj: Any) -> dict:
        result = {}
        for key, name, attr, convert, field in plan:
            if convert is None:  # marshmallow's own way, as Schema._serialize calls it
                value = field.serialize(name, obj, accessor=accessor)
                if value is not missing:
                    result[key] = value
                continue
            value = _value_of(obj, attr)
            if value is missing:
                default = field.dump_default
                if default is missing:
                    continue
                value = default() if callable(default) else default
            result[key] = convert(value, obj)
        return result

    if schema.many:
        return lambda data: dump_one(data) if data is None else [dump_one(each) for each in data]
    return dump_one


def _value_of(obj: Any, key: str) -> Any:
    """``marshmallow.utils.get_value`` for a key without a dot: ``obj[key]``, else the
    attribute, else ``missing``."""
    if type(obj) is dict:
        value = obj.get(key, missing)
        return value if value is not missing else getattr(obj, key, missing)
    if not hasattr(obj, "__getitem__"):
        return getattr(obj, key, missing)
    try:
        return obj[key]
    except (KeyError, IndexError, TypeError, AttributeError):
        return getattr(obj, key, missing)


def _converter(field: fields.Field, name: str) -> _Convert:
    """How ``field`` turns a value read into its wire form, as its ``_serialize`` does."""
    serialize = type(field)._serialize
    if serialize is fields.Field._serialize:  # Raw, Boolean, Field
        return lambda value, obj: value
    if serialize is fields.String._serialize:
        return lambda value, obj: (
            value if value is None or type(value) is str else ensure_text_type(value)
        )
    if (
        serialize is fields.Number._serialize
        and field.num_type is int
        and not field.as_string
        and type(field)._format_num is fields.Number._format_num
    ):
        return lambda value, obj: value if value is None or type(value) is int else int(value)
    if (
        serialize is fields.Mapping._serialize
        and field.key_field is None
        and field.value_field is None
        and field.mapping_type is dict
    ):
        return lambda value, obj: None if value is None else dict(value)
    if serialize is fields.List._serialize:
        inner = _converter(field.inner, name)
        return lambda value, obj: None if value is None else [inner(each, obj) for each in value]
    if serialize is fields.Nested._serialize:
        nested = field.schema
        whole = dumper(nested)
        if whole == nested.dump:  # hooks: marshmallow's own, as Nested calls it
            many = nested.many or field.many
            return lambda value, obj: None if value is None else nested.dump(value, many=many)
        if field.many and not nested.many:
            return lambda value, obj: None if value is None else [whole(each) for each in value]
        return lambda value, obj: None if value is None else whole(value)
    own = field._serialize
    return lambda value, obj: own(value, name, obj)


def load(schema: Schema | type[Schema], data: Any, **kwargs: Any) -> Any:
    """Validate ``data`` with ``schema``; InvalidInput with per-field errors if it fails."""
    instance = shared(schema) if isinstance(schema, type) else schema
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


def sort_field(*names: str) -> fields.String:
    """A list's ``sort`` argument: one of ``names`` for ascending, or ``-name`` for
    descending (documented as an enum); anything else is invalid input naming them."""
    choices = [*names, *(f"-{name}" for name in names)]
    allowed = ", ".join(names)
    return fields.String(
        validate=validate.OneOf(
            choices, error=f"sort by one of: {allowed} (a leading - for descending)"
        ),
        metadata={"description": f"sort by {allowed}; a leading - for descending (ties by id)"},
    )


def ordered(stmt: Select, sort: str | None, sortable: Mapping[str, Any], tiebreak: Any) -> Select:
    """``stmt`` ordered by ``sort`` (``name`` or ``-name``, a key of ``sortable``), ties by
    ``tiebreak`` (the id) in the same direction so that pages never overlap; empty values
    last either way, on every database. Without ``sort`` the list keeps its own order."""
    if not sort:
        return stmt
    name = sort.removeprefix("-")
    if name not in sortable:  # the list's schema (``sort_field``) names the same fields
        allowed = ", ".join(sortable)
        raise InvalidInput(
            "the request is not valid",
            errors={"sort": [f"sort by one of: {allowed} (a leading - for descending)"]},
        )
    column = sortable[name]
    if sort.startswith("-"):
        keys = [column.desc().nulls_last(), tiebreak.desc()]
    else:
        keys = [column.asc().nulls_last(), tiebreak.asc()]
    return stmt.order_by(None).order_by(*keys)


def page_of(session: Session, stmt: Select, page: int, per_page: int, dump: Any) -> dict:
    """One page of ``stmt`` (a select of one entity) as ``{items, total, page, per_page}``;
    ``dump`` maps an object."""
    rows = session.scalars(_one_page(stmt, page, per_page)).all()
    return _page(session, stmt, len(rows), [dump(row) for row in rows], page, per_page)


def page_of_rows(
    session: Session,
    stmt: Select,
    page: int,
    per_page: int,
    dump_rows: Callable[[list[Any]], list[dict]],
) -> dict:
    """One page of ``stmt``, a select of columns, as ``page_of`` answers it: the rows are
    not made into objects (for a list read often, that was a third of its cost), and
    ``dump_rows`` maps the page's rows together (so that what they share, such as their
    children, is read in one query)."""
    rows = list(session.execute(_one_page(stmt, page, per_page)).all())
    return _page(session, stmt, len(rows), dump_rows(rows), page, per_page)


def _one_page(stmt: Select, page: int, per_page: int) -> Select:
    return stmt.limit(per_page).offset((page - 1) * per_page)


def _page(session: Session, stmt: Select, read: int, items: list, page: int, per_page: int) -> dict:
    """The page answer of ``items``, ``read`` rows of ``stmt``. The total is counted only
    where the page does not tell it: a page with rows but fewer than ``per_page`` is the
    last, so the total is the rows before it and its own (a short list, the most read of
    all, then costs one query, not two). No row after the page is read to tell a full page
    from the last: each row read is made into an object and its sealed values opened."""
    if read < per_page and (read or page == 1):
        total = (page - 1) * per_page + read
    else:
        total = session.scalar(select(func.count()).select_from(stmt.order_by(None).subquery()))
    return {"items": items, "total": total or 0, "page": page, "per_page": per_page}


class Problem(Schema):
    """RFC 7807 problem document (documentation of error responses)."""

    type = fields.String()
    title = fields.String()
    status = fields.Integer()
    code = fields.String()
    detail = fields.String()
    errors = fields.Dict()
    request_id = fields.String()


class IsoDateTime(fields.DateTime):
    """ISO 8601 in UTC with a ``Z`` on the wire."""

    def _serialize(self, value: Any, attr: Any, obj: Any, **kwargs: Any) -> str | None:
        from services.common.timeutil import iso

        return iso(value)


#: Digits before the point of the largest amount a NUMERIC(14, 2) column holds (12).
_WHOLE_DIGITS = len(str(int(MAX_MONEY)))
#: What money looks like in an answer (documented; negative for a reversal).
MONEY_PATTERN = rf"^-?[0-9]{{1,{_WHOLE_DIGITS}}}(\.[0-9]{{1,2}})?$"
#: What a request's amount may be (documented): more than 0, at most two places, and at
#: most ``MAX_MONEY`` (12 digits before the point, leading zeros aside), as ``Money`` loads.
POSITIVE_MONEY_PATTERN = (
    rf"^0*([1-9][0-9]{{0,{_WHOLE_DIGITS - 1}}}(\.[0-9]{{1,2}})?|\.(0[1-9]|[1-9][0-9]?))$"
)
#: A well-formed region code (``services.common.regions.is_region_code``): a province part
#: other than 00, then 0000 (the province), or a city part other than 00 and any district.
REGION_CODE_PATTERN = r"^(0[1-9]|[1-9][0-9])(0000|(0[1-9]|[1-9][0-9])[0-9]{2})$"
#: A character that is not whitespace to Python (``str.isspace``), spelt out for documented
#: patterns: ``\S`` means other characters in JavaScript, in Rust and under ``re.ASCII``.
NON_SPACE = r"[^\t-\r\x1c-\x20\x85\xa0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000]"


class FullMatch(validate.Regexp):
    """``validate.Regexp`` over the whole value, documented as its pattern: a closing ``$``
    lets no final newline through, as it does not in JSON Schema."""

    def __call__(self, value: str) -> str:
        if self.regex.fullmatch(value) is None:
            raise ValidationError(self._format_error(value))
        return value


#: Code points a reader cannot see: controls, format characters (zero-width, bidi marks),
#: the other default-ignorables (Hangul fillers, variation selectors), private-use and
#: unassigned ones. In a name that must be unique they make a second name that reads the same.
_INVISIBLE = regex.compile(r"[\p{Cc}\p{Cf}\p{Co}\p{Cn}\p{Default_Ignorable_Code_Point}]")


def visible_text(value: str) -> None:
    """A validator: the text has no code point a reader cannot see (``_INVISIBLE``)."""
    found = _INVISIBLE.search(value)
    if found is not None:
        raise ValidationError(f"no invisible or control characters (U+{ord(found[0]):04X})")


def comma_list_pattern(choices: Iterable[str], *, distinct: bool = False) -> str:
    """The documented pattern of a query's comma-separated ``choices``, as the fields that
    read one take it: blanks around an item and empty items are left out; with ``distinct``,
    no item twice (a back-reference in a lookahead)."""
    item = "|".join(re.escape(choice) for choice in choices)
    segment = rf"\s*(?:(?:{item})\s*)?"
    once = rf"(?![\s\S]*\b({item})\b[\s\S]*\b\1\b)" if distinct else ""
    return rf"^{once}{segment}(?:,{segment})*$"


class Money(fields.Field):
    """Yuan on the wire: a decimal string with at most two places, dumped as ``"1250.00"``
    (negative for a reversal). Loaded, it must be more than 0 and at most ``MAX_MONEY``;
    integers are accepted and floats refused (they are inexact). Documented with
    ``POSITIVE_MONEY_PATTERN``, what it loads, or with ``MONEY_PATTERN`` where it is
    ``dump_only`` (an answer's amount)."""

    default_error_messages = {
        "invalid": 'a decimal string such as "1250.00"',
        "places": "at most two decimal places",
        "range": "must be more than 0 and at most 999999999999.99",
    }

    def __init__(self, *, signed: bool = False, **kwargs: Any) -> None:
        #: ``signed``: any amount within ``MAX_MONEY`` either way loads, 0 too (an event's
        #: amount, which may be a reversal).
        self.signed = signed
        metadata = {
            "type": "string",
            "format": "decimal",
            "pattern": (
                MONEY_PATTERN if kwargs.get("dump_only") or signed else POSITIVE_MONEY_PATTERN
            ),
            "example": "1250.00",
        }
        kwargs["metadata"] = metadata | kwargs.get("metadata", {})
        super().__init__(**kwargs)

    def _serialize(self, value: Any, attr: Any, obj: Any, **kwargs: Any) -> str | None:
        return None if value is None else money_str(value)

    def _deserialize(self, value: Any, attr: Any, data: Any, **kwargs: Any) -> Decimal:
        if isinstance(value, bool | float) or not isinstance(value, str | int | Decimal):
            raise self.make_error("invalid")
        try:
            amount = to_decimal(value.strip() if isinstance(value, str) else value)
        except ValueError as exc:
            raise self.make_error("invalid") from exc
        if amount.as_tuple().exponent < -2:
            raise self.make_error("places")
        if self.signed:
            if abs(amount) > MAX_MONEY:
                raise self.make_error("range")
        elif not Decimal(0) < amount <= MAX_MONEY:
            raise self.make_error("range")
        return money(amount)


#: Rates (commission rates, discounts) carry at most this many decimal places.
RATE_PLACES = 6
#: What a request's rate may be (documented), as ``Rate`` loads it: 0 to 1 with at most
#: ``RATE_PLACES`` places, trailing and leading zeros aside (``"0.08"``, ``"1"``, ``".5"``).
RATE_PATTERN = rf"^(0*1(\.0*)?|0+(\.[0-9]{{0,{RATE_PLACES}}}0*)?|\.[0-9]{{1,{RATE_PLACES}}}0*)$"


def format_rate(value: Decimal) -> str:
    """A rate on the wire: a decimal string without trailing zeros beyond two places
    (``"0.08"`` is 8 %, ``"0.035"``, ``"0.200001"``)."""
    if value.is_zero():
        value = abs(value)  # "-0.000000" (a hair above list price, rounded up) is "0.00"
    text = f"{value.normalize():f}"
    whole, _, places = text.partition(".")
    return f"{whole}.{places.ljust(2, '0')}"


class Rate(fields.Decimal):
    """A rate: a decimal fraction in [0, 1], at most ``RATE_PLACES`` places; a string on the
    wire, written by :func:`format_rate` (a computed rate, such as a discount above list
    price, may lie outside the range: only what is read in is checked, and documented with
    ``RATE_PATTERN`` unless the field is ``dump_only``)."""

    def __init__(self, **kwargs: Any) -> None:
        kwargs.setdefault(
            "validate", validate.Range(min=0, max=1, error="a rate is between 0 and 1")
        )
        if not kwargs.get("dump_only"):
            metadata = {"pattern": RATE_PATTERN, "example": "0.08"}
            kwargs["metadata"] = metadata | kwargs.get("metadata", {})
        super().__init__(as_string=True, **kwargs)

    def _deserialize(self, value: Any, attr: Any, data: Any, **kwargs: Any) -> Decimal:
        rate = super()._deserialize(value, attr, data, **kwargs)
        try:
            rounded = rate.quantize(Decimal(1).scaleb(-RATE_PLACES))
        except ArithmeticError as exc:  # "1e999999999999": no rate is that large
            raise ValidationError("a rate is between 0 and 1") from exc
        if rounded != rate:  # also "1E-999999999999", which normalize() takes for 0
            raise ValidationError(f"a rate has at most {RATE_PLACES} decimal places")
        return rate

    def _serialize(self, value: Any, attr: Any, obj: Any, **kwargs: Any) -> str | None:
        return None if value is None else format_rate(to_decimal(value))


class Id(fields.Integer):
    """A row's id in a body or a query: 1 up to ``MAX_ID`` (BIGINT); a larger number names
    no row and is refused (422) before it reaches a database that cannot compare it."""

    def __init__(self, **kwargs: Any) -> None:
        kwargs.setdefault("validate", validate.Range(min=1, max=MAX_ID))
        super().__init__(**kwargs)


class Flag(fields.Boolean):
    """A JSON boolean in a body: ``true`` or ``false`` only (not 0, 1, "yes" or "on", which
    marshmallow's Boolean takes). Query strings keep ``fields.Boolean``."""

    def _deserialize(self, value: Any, attr: Any, data: Any, **kwargs: Any) -> bool:
        # Not by set membership: 1 == True and 0 == False would pass.
        if not isinstance(value, bool):
            raise self.make_error("invalid", input=value)
        return value


#: A phone number as people write it (digits, spaces, brackets, dashes, an optional leading
#: +), at most 20 characters: the narrowest column that stores one.
phone_number = FullMatch(r"^\+?[0-9][0-9 ()-]{4,18}$", error="not a phone number")


def _region_code(value: str) -> None:
    from services.common.regions import is_region_code

    if not is_region_code(value):
        raise ValidationError("a region code is 6 digits (GB/T 2260), e.g. 330106")


class RegionCode(fields.String):
    """A 6-digit GB/T 2260 region code."""

    def __init__(self, **kwargs: Any) -> None:
        kwargs.setdefault("validate", _region_code)
        metadata = {"pattern": REGION_CODE_PATTERN, "example": "330106"}
        kwargs["metadata"] = metadata | kwargs.get("metadata", {})
        super().__init__(**kwargs)


def load_id(value: Any, name: str = "id") -> int:
    """A positive integer id, or InvalidInput; one beyond BIGINT cannot exist: NotFound."""
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise InvalidInput("the request is not valid", errors={name: ["not a valid id"]})
    if value > MAX_ID:
        raise NotFound(f"{name} {value} not found")
    return value


def load_key(value: Any, name: str = "code") -> str:
    """A text key (a code from a path), or InvalidInput; text no row can hold (a NUL
    character, an unpaired surrogate) names nothing: NotFound."""
    if not isinstance(value, str) or not value:
        raise InvalidInput("the request is not valid", errors={name: ["not a valid code"]})
    if _unstorable(value):
        raise NotFound(f"{name} not found")
    return value


class DecisionIn(WireSchema):
    """An approval step's decision to go on, with an optional comment."""

    comment = fields.String(load_default=None, allow_none=True, validate=validate.Length(max=1000))


class RejectIn(WireSchema):
    """A rejection: its comment, the reason the submitter reads, is required."""

    comment = fields.String(required=True, validate=validate.Length(min=1, max=1000))


def _distinct_step_names(steps: list[dict]) -> None:
    names = [step["name"] for step in steps]
    if len(set(names)) != len(names):
        raise ValidationError("step names are unique")


class FlowStepIn(WireSchema):
    """One step of an approval flow; the owning service checks the condition's fields."""

    name = fields.String(required=True, validate=validate.Length(min=1, max=60))
    permission = fields.String(
        required=True,
        validate=FullMatch(r"^[a-z][a-z_]*(\.[a-z_]+)+$", error="a permission code"),
    )
    mode = fields.String(load_default="any", validate=validate.OneOf(("any", "all")))
    approvers = fields.List(
        fields.Integer(strict=True, validate=validate.Range(min=1, max=MAX_ID)),
        load_default=list,
        validate=validate.Length(max=50),
    )
    condition = fields.Dict(load_default=None, allow_none=True)


class FlowIn(WireSchema):
    steps = fields.List(
        fields.Nested(FlowStepIn),
        required=True,
        # A list, not validate.And: the document shows the Length (minItems, maxItems).
        validate=[validate.Length(min=1, max=20), _distinct_step_names],
    )


class FlowOut(WireSchema):
    kind = fields.String()
    steps = fields.List(fields.Dict())
    updated_by = fields.Integer(allow_none=True)
    updated_at = IsoDateTime(allow_none=True)
