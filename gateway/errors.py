"""Every error answers RFC 7807 problem JSON with a stable machine ``code``."""

from __future__ import annotations

import logging

from flask import Flask, Response, g, jsonify
from werkzeug.exceptions import HTTPException

from gateway.rpc import RemoteError
from services.common.errors import AppError

log = logging.getLogger(__name__)

_HTTP_CODES = {
    400: "bad_request",
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
    response.content_type = "application/problem+json"
    if status == 401:
        response.headers["WWW-Authenticate"] = "Bearer"
    if status == 413:
        # The unread body is still on the socket: the connection cannot carry another request.
        response.headers["Connection"] = "close"
    if status == 429 and errors and errors.get("retry_after"):
        response.headers["Retry-After"] = str(errors["retry_after"][0])
    return response


def _validation_errors(exc: HTTPException) -> dict:
    """webargs puts field errors under their location (json, query, ...); flatten them."""
    messages = (getattr(exc, "data", None) or {}).get("messages") or {}
    flat: dict = {}
    for location_errors in messages.values():
        if isinstance(location_errors, dict):
            flat.update(location_errors)
    return flat


def register_error_handlers(app: Flask) -> None:
    @app.errorhandler(AppError)
    def app_error(exc: AppError) -> Response:
        return problem(exc.status, exc.error_code, exc.message, exc.errors)

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
