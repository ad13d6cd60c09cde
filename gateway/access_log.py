"""The access log without personal data or secrets.

gunicorn logs the request line, query string included, and the referer (whose query holds
what the console searched for). A phone searched with ``q=`` would sit in every log
collector. This logger keeps the names of the query's parameters and the values only of
those that name no person: ids, pages, statuses, dates, codes of regions. Every other
value (``q``, ``address``, anything unknown) is written as ``***``. The referer keeps its
path only; header atoms that hold credentials (``Authorization``, cookies) are never
written, whatever ``access_log_format`` says.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import parse_qsl, quote, urlsplit

from gunicorn.glogging import Logger

#: Query parameters whose values say nothing about a person.
PLAIN_PARAMETERS = frozenset(
    {
        "active",
        "customer_id",
        "format",
        "from",
        "group_by",
        "kind",
        "on",
        "order_id",
        "page",
        "parent",
        "parent_id",
        "partner_id",
        "partner_type",
        "per_page",
        "period",
        "region_code",
        "scope",
        "settled",
        "source",
        "statement_id",
        "status",
        "to",
        "type",
        "unread",
        "actor_id",
        "action",
        "subject_type",
        "subject_id",
    }
)
#: Query parameters of the API whose values name a person: their names are kept.
PERSONAL_PARAMETERS = frozenset({"q", "address"})
MASK = "***"
_SECRET_HEADERS = ("authorization", "cookie", "proxy-authorization", "x-api-key")


def masked_query(query: str) -> str:
    """``query`` with the values of every parameter but the plain ones replaced, and the
    name of any parameter the API does not know too (a phone sent as a name, ``?138...``,
    or after an unencoded ``&``, is a name)."""
    if not query:
        return ""
    shown = []
    for name, value in parse_qsl(query, keep_blank_values=True):
        if name in PLAIN_PARAMETERS:
            shown.append(f"{name}={quote(value, safe=',:')}")
        elif name in PERSONAL_PARAMETERS:
            shown.append(f"{name}={MASK}")
        else:
            shown.append(f"{MASK}={MASK}")
    return "&".join(shown)


def masked_target(target: str) -> str:
    """A request target (path and query) with the query masked."""
    path, _, query = target.partition("?")
    return f"{path}?{masked_query(query)}" if query else path


def _referer(referer: str) -> str:
    if referer in ("", "-"):
        return "-"
    try:
        parts = urlsplit(referer)
        host, port = parts.hostname, parts.port
    except ValueError:
        return MASK
    if not host:
        return parts.path or "-"
    # Rebuilt from host and port: a referer's user and password never reach the log.
    return f"{parts.scheme}://{host}{f':{port}' if port else ''}{parts.path}"


class PrivateAccessLogger(Logger):
    """gunicorn's logger, with the request's personal values and credentials left out."""

    def atoms(self, resp: Any, req: Any, environ: dict, request_time: Any) -> dict:
        atoms = super().atoms(resp, req, environ, request_time)
        atoms["r"] = "{} {} {}".format(
            environ.get("REQUEST_METHOD", "-"),
            masked_target(environ.get("RAW_URI", "")),
            environ.get("SERVER_PROTOCOL", "-"),
        )
        atoms["q"] = masked_query(environ.get("QUERY_STRING", ""))
        atoms["f"] = _referer(environ.get("HTTP_REFERER", "-"))
        for name in _SECRET_HEADERS:
            if f"{{{name}}}i" in atoms:
                atoms[f"{{{name}}}i"] = MASK
        atoms["{http_authorization}e"] = MASK
        atoms["{http_cookie}e"] = MASK
        atoms["{http_referer}e"] = atoms["f"]
        atoms["{query_string}e"] = atoms["q"]
        atoms["{raw_uri}e"] = masked_target(environ.get("RAW_URI", ""))
        return atoms
