"""What every blueprint uses: the blueprint class, page schemas for the docs, and query/body
forwarding."""

from __future__ import annotations

import base64
from functools import cache

import flask_smorest
from flask import Response
from marshmallow import Schema, fields

from gateway.bodies import JsonBodyParser
from services.common.idempotency import MAX_KEY_LENGTH
from services.common.schemas import Problem


class Blueprint(flask_smorest.Blueprint):
    """flask-smorest's blueprint, reading arguments with the gateway's parser: JSON bodies
    through ``gateway.bodies.parse_json_body``, and unknown query parameters refused like
    unknown body fields (the schemas' RAISE)."""

    ARGUMENTS_PARSER = JsonBodyParser(unknown=None)


ERRORS = {
    401: Problem,
    403: Problem,
    404: Problem,
    409: Problem,
    422: Problem,
    503: Problem,
}


@cache
def page_of(item: type[Schema]) -> type[Schema]:
    """The documented shape of a page of ``item``."""
    return type(
        f"{item.__name__}Page",
        (Schema,),
        {
            "items": fields.List(fields.Nested(item)),
            "total": fields.Integer(),
            "page": fields.Integer(),
            "per_page": fields.Integer(),
        },
    )


def wire(schema: type[Schema], loaded: dict) -> dict:
    """Loaded arguments back to their wire form, to send on to the service."""
    return schema().dump(loaded)


def document_errors(blueprint, *statuses: int):  # type: ignore[no-untyped-def]
    """Decorator documenting the problem responses of a view (those any view may give are
    added by ``gateway.errors.ProblemResponses``)."""

    def decorator(view):  # type: ignore[no-untyped-def]
        for status in statuses:
            view = blueprint.alt_response(status, schema=ERRORS.get(status, Problem))(view)
        return view

    return decorator


FILE_TYPES = ("text/csv", "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet")


def file_response(exported: dict) -> Response:
    """A report file a service answered (``report_files.file_answer``) as an attachment."""
    return Response(
        base64.b64decode(exported["content_base64"]),
        content_type=exported["content_type"],
        headers={"Content-Disposition": f'attachment; filename="{exported["filename"]}"'},
    )


def document_files(blueprint):  # type: ignore[no-untyped-def]
    """Decorator documenting a report's 200 answer as a CSV or XLSX file too (``format``)."""

    def decorator(view):  # type: ignore[no-untyped-def]
        for content_type in FILE_TYPES:
            view = blueprint.alt_response(
                200,
                schema={"type": "string", "format": "binary"},
                content_type=content_type,
                success=True,
            )(view)
        return view

    return decorator


IDEMPOTENCY_KEY = {
    "in": "header",
    "name": "Idempotency-Key",
    "required": False,
    "schema": {
        "type": "string",
        "minLength": 1,
        "maxLength": MAX_KEY_LENGTH,
        "pattern": "^[\\x21-\\x7e]+$",
    },
    "description": (
        "Any string of visible ASCII characters the client makes up (a UUID, say). Sent"
        " again with the same request, for example after a 504 or a lost connection, it"
        " gets the first answer instead of a second effect. Reused with another request:"
        " 422 `idempotency_key_reused`."
    ),
}


def idempotent(blueprint):  # type: ignore[no-untyped-def]
    """Decorator: the view's service call honours the ``Idempotency-Key`` header (its
    service method is ``@rpc(idempotent=True)``); documents the header."""

    def decorator(view):  # type: ignore[no-untyped-def]
        view.prm_idempotent = True
        return blueprint.doc(parameters=[IDEMPOTENCY_KEY])(view)

    return decorator
