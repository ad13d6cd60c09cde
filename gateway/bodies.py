"""Request bodies: every JSON body is read in one place, and the blueprints' parser.

``parse_json_body`` turns a body into data or answers 400 ``malformed``; ``JsonBodyParser``
is webargs' parser using it, and the one every gateway blueprint reads its arguments with
(``gateway.api.common.Blueprint``).
"""

from __future__ import annotations

import json
import math
from typing import Any

from flask import Request
from marshmallow import Schema
from webargs import core as webargs_core
from webargs.flaskparser import FlaskParser

from services.common.errors import BadRequest
from services.common.schemas import shared

#: No payload nests deeper than a few levels; a body nested deeper is no payload of ours,
#: and code that walks it recursively (schemas, the RPC serializer) must never meet it.
MAX_JSON_DEPTH = 32


def _not_a_number(name: str) -> Any:
    raise ValueError(f"{name} is not a JSON number")


def _finite_float(text: str) -> float:
    number = float(text)
    if not math.isfinite(number):  # 1e999 would be read as infinity, another number
        raise ValueError(f"{text[:20]} is beyond the range of a number")
    return number


def _depth_within(document: Any, limit: int) -> bool:
    level = [document] if isinstance(document, dict | list) else []
    for _ in range(limit):
        if not level:
            return True
        # Only containers go on to the next level: a long flat list costs one pass.
        level = [
            item
            for container in level
            for item in (container.values() if isinstance(container, dict) else container)
            if isinstance(item, dict | list)
        ]
    return not level


def parse_json_body(raw: bytes) -> Any:
    """A request body as JSON data (UTF-8, RFC 8259): 400 ``malformed`` for anything the
    parser cannot turn into data exactly, whichever part of the parser gives up (a syntax
    error, nesting deeper than the interpreter's stack, an integer of thousands of digits,
    ``NaN`` or a float beyond range)."""
    try:
        document = json.loads(
            raw.decode("utf-8"), parse_constant=_not_a_number, parse_float=_finite_float
        )
    except (ValueError, RecursionError) as exc:
        raise BadRequest(f"the body is not well-formed JSON: {exc}"[:200], "malformed") from exc
    if not _depth_within(document, MAX_JSON_DEPTH):
        raise BadRequest(f"the body nests deeper than {MAX_JSON_DEPTH} levels", "malformed")
    return document


class JsonBodyParser(FlaskParser):
    """webargs' parser, reading every JSON body (``application/json`` and
    ``application/*+json``, any parameters) with :func:`parse_json_body`."""

    def _get_schema(self, argmap: Any, req: Request) -> Schema:
        """The shared instance of a schema class (``services.common.schemas.shared``):
        webargs made one per request, which cost a tenth of a list's time in the gateway."""
        if isinstance(argmap, type) and issubclass(argmap, Schema):
            return shared(argmap)
        return super()._get_schema(argmap, req)

    def load_json(self, req: Request, schema: Schema) -> Any:
        """The request's JSON body as data, or ``missing`` when it is not JSON or empty."""
        if not webargs_core.is_json(req.mimetype):
            return webargs_core.missing
        raw = req.get_data(cache=True)
        if not raw:  # a body left out is an empty one (``OptionalBodies``)
            return webargs_core.missing
        return parse_json_body(raw)
