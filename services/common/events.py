"""Event contracts: each event kind has one marshmallow schema, in its producer's
``events.py`` (``EVENTS``: kind -> schema). The producer builds the data through it
(``event_data``), every consumer reads it through it (``load_event``).

A producer's ``events.py`` imports only marshmallow and ``services.common``, so that any
service may import it to read its events without depending on the rest of the producer.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from marshmallow import EXCLUDE, Schema, ValidationError

from services.common.errors import InvalidInput
from services.common.schemas import dump, shared
from services.common.timeutil import as_utc, utcnow


class EventSchema(Schema):
    """The data of one event kind. Fields added later are ignored by older consumers."""

    class Meta:
        unknown = EXCLUDE


def event_data(schema: type[Schema], values: Any) -> dict[str, Any]:
    """The wire data of an event, built through its schema; a value the schema would not
    load back is a programming error, raised before anything is emitted."""
    try:
        data = dump(schema, values)
    except (TypeError, ValueError, ArithmeticError) as exc:
        raise ValueError(f"{schema.__name__} refuses what was built: {exc}") from exc
    errors = shared(schema).validate(data)
    if errors:
        raise ValueError(f"{schema.__name__} refuses what was built: {errors}")
    return data


class EventData(dict):
    """An event's loaded data. Reading a field its schema does not declare is a programming
    error (``KeyError`` naming the schema), also through ``get``: a consumer never reads a
    field the producer does not promise, and never mistakes one for "absent"."""

    def __init__(self, schema: type[Schema], data: dict[str, Any]) -> None:
        super().__init__(data)
        self.schema = schema
        self.declared = frozenset(shared(schema).fields)

    def _check(self, key: Any) -> None:
        if key not in self.declared:
            raise KeyError(f"{self.schema.__name__} has no field {key!r}")

    def __getitem__(self, key: Any) -> Any:
        self._check(key)
        return super().get(key)

    def get(self, key: Any, default: Any = None) -> Any:
        self._check(key)
        return super().get(key, default)


def load_event(schema: type[Schema], event: dict[str, Any]) -> EventData:
    """The validated ``data`` of a received event (``InvalidInput`` when it does not match
    the producer's schema: the event is parked with the reason)."""
    data = event.get("data") if isinstance(event, dict) else None
    if not isinstance(data, dict):
        raise InvalidInput(f"not an event with data: {type(event).__name__}")
    try:
        return EventData(schema, shared(schema).load(data))
    except ValidationError as exc:
        raise InvalidInput(
            f"{event.get('type') if isinstance(event, dict) else None} event does not match"
            f" {schema.__name__}",
            errors=exc.normalized_messages(),
        ) from exc


def occurred_at(event: dict[str, Any]) -> datetime:
    """When the event happened (the envelope's ``occurred_at``, UTC); ``InvalidInput`` when
    it is missing or malformed, never a guess."""
    kind = event.get("type") if isinstance(event, dict) else None
    raw = event.get("occurred_at") if isinstance(event, dict) else None
    try:
        moment = datetime.fromisoformat(raw)
        check_not_future(moment, f"{kind} event's occurred_at")
        return as_utc(moment)
    except (TypeError, ValueError, OverflowError) as exc:
        raise InvalidInput(f"{kind} event without a valid occurred_at") from exc


#: How far ahead of this machine's clock another's may run (an event's time is its
#: producer's clock).
CLOCK_SKEW = timedelta(minutes=5)


def happened(moment: datetime) -> None:
    """A field validator: the time has a zone and is not in the future (``CLOCK_SKEW``
    aside), as a time an event reports must."""
    if moment.tzinfo is None or moment > utcnow() + CLOCK_SKEW:
        raise ValidationError("a time with a zone, not in the future")


def check_not_future(moment: datetime, what: str) -> None:
    """``InvalidInput`` for a time after now (beyond ``CLOCK_SKEW``): an event tells what
    has happened. A time from the future would outrank every real event after it."""
    if moment.tzinfo is None or moment > utcnow() + CLOCK_SKEW:
        raise InvalidInput(f"{what} is in the future or has no time zone: {moment.isoformat()}")
