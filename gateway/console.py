"""The web console's built files (``console/dist``, ``npm run build``) at ``/``, from the
API's own origin: the hashed assets cached for a year, ``index.html`` for every other path
the console's router knows (``/customers/12`` opened from a bookmark), never for the API's
own paths, which keep their problem JSON 404. The console is a client of the public API
and nothing else: nothing here reads a token or calls a service."""

from __future__ import annotations

import os
from pathlib import Path

from flask import Flask, Response, abort, send_from_directory
from werkzeug.routing import PathConverter

#: Where ``npm run build`` puts the console (``PRM_CONSOLE_DIR`` overrides it: nginx's image
#: serves the same files in ``deploy/``).
DEFAULT_DIR = Path(__file__).resolve().parents[1] / "console" / "dist"
#: Paths that are the API's or the operators', never a page of the console (``PagePath``).
NOT_PAGES = ("api/", "docs", "openapi.json", "healthz", "readyz", "metrics")
#: The console's own files and the API on the same origin; Element Plus sets inline styles.
POLICY = (
    "default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; "
    "img-src 'self' data: blob:; font-src 'self' data:; connect-src 'self'; "
    "object-src 'none'; base-uri 'self'; form-action 'self'; frame-ancestors 'none'"
)
#: Answered while the console is not built (``make run`` builds it; so does ``make install``).
NOT_BUILT = """<!doctype html><html lang="en"><meta charset="utf-8"><title>Console not built</title>
<p>The web console is not built on this machine. Run <code>make console</code> (Node.js 20
and npm), or use the API: <a href="/docs">/docs</a>.</p></html>"""


class PagePath(PathConverter):
    """A path of the console: any path but the API's and the operators' (``NOT_PAGES``, in
    any case), which never match the console's route, so that their unknown paths and
    methods answer as the API does (problem JSON 404 and 405, never the console's page)."""

    regex = (
        r"(?!(?i:api(?:/|$)|docs(?:/|$)|openapi\.json$|healthz$|readyz$|metrics(?:/|$)))"
        + PathConverter.regex
    )


def console_dir() -> Path:
    return Path(os.environ.get("PRM_CONSOLE_DIR") or DEFAULT_DIR)


def install_console(app: Flask) -> None:
    """Routes ``/`` and every path not the API's to the console's files."""
    root = console_dir()
    app.url_map.converters["page"] = PagePath

    def page() -> Response:
        index = root / "index.html"
        if not index.is_file():
            response = Response(NOT_BUILT, status=503, content_type="text/html; charset=utf-8")
        else:
            response = send_from_directory(root, "index.html", max_age=0)
            response.headers["Cache-Control"] = "no-cache"
        response.headers["Content-Security-Policy"] = POLICY
        response.headers["X-Content-Type-Options"] = "nosniff"
        return response

    @app.get("/")
    def console_index() -> Response:
        """The web console (partner portal and HQ console)."""
        return page()

    @app.get("/<page:path>")
    def console_page(path: str) -> Response:
        """A file of the console, or its page for a path its router knows."""
        if ".." in path.split("/"):
            abort(404)
        if path.startswith("assets/"):
            response = send_from_directory(root, path, max_age=365 * 24 * 3600)
            response.headers["Cache-Control"] = "public, max-age=31536000, immutable"
            response.headers["Content-Security-Policy"] = POLICY
            response.headers["X-Content-Type-Options"] = "nosniff"
            return response
        if "." in path.rsplit("/", 1)[-1]:
            # A file (favicon.ico, sizes.json): served when built, else a plain 404.
            response = send_from_directory(root, path, max_age=3600)
            response.headers["Content-Security-Policy"] = POLICY
            response.headers["X-Content-Type-Options"] = "nosniff"
            return response
        return page()
