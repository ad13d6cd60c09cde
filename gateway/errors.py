"""Every error answers RFC 7807 problem JSON with a stable machine ``code``."""

from __future__ import annotations

import logging
from http import HTTPStatus
from typing import Any

from apispec import BasePlugin
from apispec.ext.marshmallow import MarshmallowPlugin
from flask import Flask, Response, g, jsonify
from werkzeug.exceptions import HTTPException

from gateway.rpc import RemoteError
from services.common.errors import AppError
from services.common.schemas import Problem

log = logging.getLogger(__name__)

PROBLEM_JSON = "application/problem+json"

_HTTP_CODES = {
    400: "malformed",
    401: "unauthenticated",
    403: "forbidden",
    404: "not_found",
    405: "method_not_allowed",
    409: "conflict",
    413: "payload_too_large",
    415: "unsupported_media_type",
    422: "invalid_input",
    429: "too_many_requests",
}


def problem(status: int, code: str, detail: str, errors: dict | None = None) -> Response:
    """An RFC 7807 answer with the stable ``code`` and the request's id; 401 names the
    Bearer scheme, 413 closes the connection, 429 says when to try again."""
    body = {
        "type": f"https://prm.example.com/problems/{code}",
        "title": code.replace("_", " "),
        "status": status,
        "code": code,
        "detail": detail,
        "request_id": g.get("request_id"),
    }
    if errors:
        body["errors"] = errors
    response = jsonify(body)
    response.status_code = status
    response.content_type = PROBLEM_JSON
    if status == 401:
        response.headers["WWW-Authenticate"] = "Bearer"
    if status == 413:
        # The unread body is still on the socket: the connection cannot carry another request.
        response.headers["Connection"] = "close"
    if status == 429 and errors and errors.get("retry_after"):
        response.headers["Retry-After"] = str(errors["retry_after"][0])
    return response


class ProblemResponses(BasePlugin):
    """The document's error answers as they are sent: problem JSON, on every operation
    that can give them. Views list the answers of their own rules (``document_errors``);
    these are the ones any operation may give:

    - 503 ``service_unavailable`` and 504 ``service_timeout``: every operation calls a
      service;
    - 401: every operation that needs a bearer token;
    - 400 (malformed body), 413 (body too large) and 422: every operation with a body;
    - 422: every operation that takes an ``Idempotency-Key``;
    - 414: gunicorn refuses a request line longer than 4094 bytes, before the gateway
      sees it, with a short HTML page (the only error that is not problem JSON).
    """

    def init_spec(self, spec: Any) -> None:
        marshmallow = next(p for p in spec.plugins if isinstance(p, MarshmallowPlugin))
        self.problem_ref = marshmallow.resolver.resolve_schema_dict(Problem)

    def _problem(self, status: int, response: Any) -> dict:
        description = response.get("description") if isinstance(response, dict) else None
        return {
            "description": description or HTTPStatus(status).phrase,
            "content": {PROBLEM_JSON: {"schema": self.problem_ref}},
        }

    def operation_helper(self, path: Any = None, operations: Any = None, **kwargs: Any) -> None:
        for operation in (operations or {}).values():
            responses = operation.setdefault("responses", {})
            statuses = {503, 504}
            if operation.get("security") != []:
                statuses.add(401)
            if "requestBody" in operation:
                statuses |= {400, 413, 422}
            if any(p.get("name") == "Idempotency-Key" for p in operation.get("parameters", [])):
                statuses.add(422)  # a malformed key, or one used for another request
            documented = {str(code) for code in responses}
            for status in statuses - {int(code) for code in documented if code.isdigit()}:
                responses[status] = None
            for code, response in list(responses.items()):
                if str(code).isdigit() and int(code) >= 400:
                    responses[code] = self._problem(int(code), response)
            responses[414] = {
                "description": HTTPStatus(414).phrase,
                "content": {"text/html": {"schema": {"type": "string"}}},
            }


class OptionalBodies(BasePlugin):
    """A JSON body whose schema requires no field may be left out (the gateway reads a
    missing body as ``{}``: a PATCH that changes nothing, an approval without a comment).
    The document says so with ``required: false``, promising what the server does."""

    def init_spec(self, spec: Any) -> None:
        self.spec = spec

    def operation_helper(self, path: Any = None, operations: Any = None, **kwargs: Any) -> None:
        for operation in (operations or {}).values():
            body = operation.get("requestBody")
            if not body or not body.get("required"):
                continue
            schema = (body.get("content", {}).get("application/json") or {}).get("schema")
            if not isinstance(schema, dict):
                continue
            if "$ref" in schema:
                schema = self.spec.components.schemas.get(schema["$ref"].rsplit("/", 1)[-1], {})
            if not schema.get("required"):
                body["required"] = False


def _validation_errors(exc: HTTPException) -> dict:
    """webargs puts field errors under their location (json, query, ...); flatten them."""
    messages = (getattr(exc, "data", None) or {}).get("messages") or {}
    flat: dict = {}
    for location_errors in messages.values():
        if isinstance(location_errors, dict):
            flat.update(location_errors)
    return flat


def register_error_handlers(app: Flask) -> None:
    """Every error ``app`` meets answers problem JSON: typed errors with their status and
    code, HTTP errors with theirs, anything else 500 ``internal_error``, logged."""

    @app.errorhandler(AppError)
    def app_error(exc: AppError) -> Response:
        return problem(exc.status, exc.code, exc.message, exc.errors)

    @app.errorhandler(HTTPException)
    def http_error(exc: HTTPException) -> Response:
        status = exc.code or 500
        if status == 422:
            return problem(
                422, "invalid_input", "the request is not valid", _validation_errors(exc)
            )
        code = _HTTP_CODES.get(status, "error")
        return problem(status, code, exc.description or code)

    @app.errorhandler(RemoteError)
    def remote_error(exc: RemoteError) -> Response:
        log.error("service error: %s (request %s)", exc, g.get("request_id"))
        return problem(500, "internal_error", "an internal error occurred")

    @app.errorhandler(Exception)
    def unexpected(exc: Exception) -> Response:
        log.exception("unhandled error (request %s)", g.get("request_id"))
        return problem(500, "internal_error", "an internal error occurred")
