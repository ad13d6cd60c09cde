"""Reading the gateway's answers: a success's body, a problem's code."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import requests


def ok(response: requests.Response, status: int = 200) -> Any:
    """The JSON body of ``response``, which must have ``status``."""
    assert response.status_code == status, response.text
    return response.json()


def created(response: requests.Response) -> dict:
    """The JSON body of a write that succeeded (200 or 201)."""
    assert response.status_code in (200, 201), response.text
    return response.json()


def assert_problem(response: requests.Response, status: int, code: str) -> dict:
    """The RFC 7807 body of ``response``, which must have ``status`` (also in the body),
    the stable ``code`` and a request id; fails otherwise."""
    assert response.status_code == status, response.text[:2000]
    assert response.headers["Content-Type"].startswith("application/problem+json")
    body = response.json()
    assert body["code"] == code, body
    assert body["status"] == status, body
    assert body["request_id"], body
    return body


def parse_time(value: str) -> datetime:
    """An API timestamp (ISO 8601, ``Z`` for UTC) as an aware datetime."""
    return datetime.fromisoformat(value.replace("Z", "+00:00"))
