"""What every blueprint uses: the blueprint class, page schemas for the docs, and query/body
forwarding."""

from __future__ import annotations

import base64
from collections.abc import Callable
from functools import cache
from typing import Any, TypeVar

import flask_smorest
from flask import Response
from marshmallow import Schema, fields

from gateway.bodies import JsonBodyParser
from services.common.idempotency import MAX_KEY_LENGTH
from services.common.report_files import CSV_TYPE, XLSX_TYPE
from services.common.schemas import Problem, dump

View = TypeVar("View", bound=Callable[..., Any])


class Blueprint(flask_smorest.Blueprint):
    """flask-smorest's blueprint, reading arguments with the gateway's parser: JSON bodies
    through ``gateway.bodies.parse_json_body``, and unknown query parameters refused like
    unknown body fields (the schemas' RAISE)."""

    ARGUMENTS_PARSER = JsonBodyParser(unknown=None)


@cache
def page_schema(item: type[Schema]) -> type[Schema]:
    """The schema documenting a page of ``item`` (``{items, total, page, per_page}``), as
    the services' ``services.common.schemas.page_of`` answers it; one class per ``item``."""
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
    return dump(schema, loaded)


def document_errors(blueprint: flask_smorest.Blueprint, *statuses: int) -> Callable[[View], View]:
    """Decorator documenting the problem responses of a view (those any view may give are
    added by ``gateway.errors.ProblemResponses``)."""

    def decorator(view: View) -> View:
        for status in statuses:
            view = blueprint.alt_response(status, schema=Problem)(view)
        return view

    return decorator


#: The media types of ``services.common.report_files``, as the document names them.
FILE_TYPES = (CSV_TYPE.partition(";")[0], XLSX_TYPE)


def file_response(exported: dict) -> Response:
    """A report file a service answered (``report_files.file_answer``) as an attachment."""
    return Response(
        base64.b64decode(exported["content_base64"]),
        content_type=exported["content_type"],
        headers={"Content-Disposition": f'attachment; filename="{exported["filename"]}"'},
    )


def document_files(blueprint: flask_smorest.Blueprint) -> Callable[[View], View]:
    """Decorator documenting a report's 200 answer as a CSV or XLSX file too (``format``)."""

    def decorator(view: View) -> View:
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


def idempotent(
    blueprint: flask_smorest.Blueprint, call: str, *more_calls: str
) -> Callable[[View], View]:
    """Decorator: the view's service calls (``"service.method"``, each ``@rpc(idempotent=True)``)
    are sent the request's ``Idempotency-Key``; documents the header."""

    def decorator(view: View) -> View:
        view.prm_idempotent = True  # read by ``gateway.context.check_view_access``
        view.prm_idempotent_calls = (call, *more_calls)
        return blueprint.doc(parameters=[IDEMPOTENCY_KEY])(view)

    return decorator
