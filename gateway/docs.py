"""``/docs``, the API's interactive page, whole from the gateway: Swagger UI's files are
the swagger-ui-dist build that the flask-swagger-ui distribution ships, served by the
gateway under ``/docs/assets/``. The page renders on a machine without internet or behind
a firewall that lets nothing out, and its Content-Security-Policy keeps the browser from
asking any other origin for anything, whatever a later change puts in the page."""

from __future__ import annotations

import base64
import hashlib
import re
from pathlib import Path

import flask_swagger_ui
from flask import Flask, Response, request

#: swagger-ui-dist as flask-swagger-ui ships it (its blueprint is not used: flask-smorest
#: renders the page, with the document it builds).
SWAGGER_UI_FILES = Path(flask_swagger_ui.__file__).resolve().parent / "dist"
PAGE_PATH = "/docs"
ASSETS_PATH = f"{PAGE_PATH}/assets"

#: flask-smorest's settings for the page.
DOCS_CONFIG = {
    "OPENAPI_SWAGGER_UI_PATH": PAGE_PATH.lstrip("/"),
    "OPENAPI_SWAGGER_UI_URL": f"{ASSETS_PATH}/",
    # Swagger UI's default validator is a service on the internet.
    "OPENAPI_SWAGGER_UI_CONFIG": {"validatorUrl": None},
    # ReDoc and RapiDoc load their scripts from a CDN: neither page is served.
    "OPENAPI_REDOC_PATH": None,
    "OPENAPI_RAPIDOC_PATH": None,
}

#: Everything from the gateway itself. Swagger UI sets styles inline, and its style sheet
#: draws icons from data: URLs.
_POLICY = (
    "default-src 'none'; script-src {scripts}; style-src 'self' 'unsafe-inline'; "
    "img-src 'self' data:; connect-src 'self'; "
    "base-uri 'none'; form-action 'none'; frame-ancestors 'none'"
)
_INLINE_SCRIPT = re.compile(r"<script>(.*?)</script>", re.DOTALL)


def static_files() -> dict[str, str]:
    """``Flask(...)`` arguments serving Swagger UI's files under :data:`ASSETS_PATH` (as
    the app's static files: public, read from the distribution, nothing else there)."""
    return {"static_folder": str(SWAGGER_UI_FILES), "static_url_path": ASSETS_PATH}


def content_security_policy(page: str) -> str:
    """The policy for ``page``: its own inline scripts (flask-smorest's start-up script)
    by hash, and nothing from another origin."""
    digests = (hashlib.sha256(script.encode()).digest() for script in _INLINE_SCRIPT.findall(page))
    sources = ["'self'", *(f"'sha256-{base64.b64encode(digest).decode()}'" for digest in digests)]
    return _POLICY.format(scripts=" ".join(sources))


def install_docs_policy(app: Flask) -> None:
    """Every answer under ``/docs`` carries the page's Content-Security-Policy."""

    @app.after_request
    def docs_policy(response: Response) -> Response:
        if request.path == PAGE_PATH:
            page = response.get_data(as_text=True)
            response.headers["Content-Security-Policy"] = content_security_policy(page)
        elif request.path.startswith(f"{ASSETS_PATH}/"):  # oauth2-redirect.html is a page too
            response.headers["Content-Security-Policy"] = content_security_policy("")
        return response
