"""What every blueprint uses: page schemas for the docs, and query/body forwarding."""

from __future__ import annotations

from functools import cache

from marshmallow import Schema, fields

from services.common.schemas import Problem

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
