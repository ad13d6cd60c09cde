"""The gateway: the only public door. Authenticates, authorises, pins every call to the
caller's tenant, and speaks JSON over HTTP to clients and Nameko RPC to services."""

from __future__ import annotations

import re
import time
import uuid
from typing import Any

import structlog
from flask import Flask, Response, g, jsonify, request
from flask_smorest import Api
from marshmallow import fields
from werkzeug.middleware.proxy_fix import ProxyFix
from werkzeug.routing import IntegerConverter, Map

from gateway.api import ALL_BLUEPRINTS
from gateway.callers import Callers
from gateway.console import install_console
from gateway.context import check_view_access
from gateway.docs import DOCS_CONFIG, install_docs_policy, static_files
from gateway.errors import OptionalBodies, ProblemResponses, problem, register_error_handlers
from gateway.metrics import LATENCY, REQUESTS, RPC_LATENCY
from gateway.rpc import RpcClient
from services.common.config import Settings, get_settings
from services.common.context import Caller
from services.common.errors import AppError
from services.common.registry import NAMES as SERVICES  # every service /readyz expects to answer

_REQUEST_ID = re.compile(r"^[A-Za-z0-9._-]{1,64}$")


class TimedRpcClient(RpcClient):
    """The RPC client, with each call's latency in the metrics."""

    def call(self, service: str, method: str, *args: Any, **kwargs: Any) -> Any:
        """``RpcClient.call``, timed into ``prm_rpc_call_seconds`` by outcome."""
        started = time.perf_counter()
        outcome = "ok"
        try:
            return super().call(service, method, *args, **kwargs)
        except AppError as exc:
            outcome = exc.code
            raise
        except Exception:
            outcome = "error"
            raise
        finally:
            RPC_LATENCY.labels(service, method, outcome).observe(time.perf_counter() - started)


class IdConverter(IntegerConverter):
    """``<int:...>`` in a route is a row id: 1 and up, written without leading zeros. No
    rule matches ``/partners/0`` (404 like any other id no row has, whatever the method),
    and the document says ``minimum: 1``."""

    regex = r"[1-9][0-9]*"

    def __init__(self, map: Map, *args: Any, **kwargs: Any) -> None:
        kwargs.setdefault("min", 1)
        super().__init__(map, *args, **kwargs)


class DocumentedApi(Api):
    # Error answers are documented per status as problem JSON (``ProblemResponses``), not
    # as flask-smorest's catch-all ``default`` of another shape.
    DEFAULT_ERROR_RESPONSE_NAME = None


def create_app(settings: Settings | None = None, rpc: RpcClient | None = None) -> Flask:
    """The gateway's Flask app: every blueprint, problem JSON for every error, ``/docs``,
    ``/healthz`` and ``/readyz``; it calls services through ``rpc`` (by default a timed
    client on ``settings.amqp_uri``)."""
    settings = settings or get_settings()
    app = Flask("prm-gateway", **static_files())  # Swagger UI's files, for /docs
    if settings.trusted_proxies:
        # Behind an ingress every request comes from the ingress: the client's address
        # (sign-in throttling keys on it) is the one the trusted proxies appended to
        # X-Forwarded-For. With none trusted, a client could name any address there.
        app.wsgi_app = ProxyFix(app.wsgi_app, x_for=settings.trusted_proxies)
    app.url_map.converters["int"] = IdConverter
    app.config.update(
        PRM_SETTINGS=settings,
        API_TITLE="Partner management API",
        API_VERSION="v1",
        OPENAPI_VERSION="3.0.3",
        OPENAPI_URL_PREFIX="/",
        OPENAPI_JSON_PATH="openapi.json",
        MAX_CONTENT_LENGTH=int(app.config.get("MAX_CONTENT_LENGTH") or 1024 * 1024),
        API_SPEC_OPTIONS={
            "components": {
                "securitySchemes": {
                    "bearerAuth": {"type": "http", "scheme": "bearer", "bearerFormat": "JWT"}
                }
            },
            "security": [{"bearerAuth": []}],
        },
        **DOCS_CONFIG,
    )
    app.json.ensure_ascii = False
    app.json.sort_keys = False
    app.extensions["prm_rpc"] = rpc or TimedRpcClient(settings.amqp_uri, settings.rpc_timeout)
    # A client given by the caller (tests) has no broker to listen on: no cache then.
    app.extensions["prm_callers"] = Callers(
        settings.amqp_uri, settings.caller_cache_ttl if rpc is None else 0
    )

    api = DocumentedApi(app, spec_kwargs={"extra_plugins": [ProblemResponses(), OptionalBodies()]})
    # Decimals (money, rates) go on the wire as strings ("1250.00", "0.08").
    api.register_field(fields.Decimal, "string", "decimal")
    for blueprint in ALL_BLUEPRINTS:
        api.register_blueprint(blueprint)
    register_error_handlers(app)
    install_docs_policy(app)
    install_console(app)

    @app.before_request
    def start_request() -> None:
        incoming = request.headers.get("X-Request-ID", "")
        g.request_id = incoming if _REQUEST_ID.match(incoming) else uuid.uuid4().hex
        g.started = time.perf_counter()
        structlog.contextvars.bind_contextvars(request_id=g.request_id)
        check_view_access()

    @app.after_request
    def finish_request(response: Response) -> Response:
        response.headers["X-Request-ID"] = g.get("request_id", "")
        endpoint = request.url_rule.rule if request.url_rule else "unmatched"
        REQUESTS.labels(request.method, endpoint, response.status_code).inc()
        LATENCY.labels(request.method, endpoint).observe(
            time.perf_counter() - g.get("started", time.perf_counter())
        )
        structlog.contextvars.unbind_contextvars("request_id")
        return response

    @app.get("/healthz")
    def healthz() -> Response:
        """The process is up."""
        return jsonify({"status": "ok"})

    @app.get("/readyz")
    def readyz() -> Response:
        """The broker and every service answer."""
        client: RpcClient = app.extensions["prm_rpc"]
        gateway = Caller.system_caller("gateway", g.request_id)
        checks = {}
        for service in SERVICES:
            try:
                client.call(service, "ping", caller=gateway, timeout=min(settings.rpc_timeout, 3))
                checks[service] = "ok"
            except AppError as exc:
                checks[service] = exc.code
            except Exception as exc:
                checks[service] = f"error: {type(exc).__name__}"
        ready = all(value == "ok" for value in checks.values())
        if not ready:
            response = problem(503, "service_unavailable", "not every service answers")
            body = response.get_json() | {"checks": checks}
            response.set_data(jsonify(body).get_data())
            return response
        return jsonify({"status": "ready", "checks": checks})

    return app
